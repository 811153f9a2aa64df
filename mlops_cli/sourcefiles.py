"""Turning a file or folder into the list of files a version is made of, safely."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.relpaths import path_problem
from mlops_cli.store.project import DB_FILENAME, STORE_DIRNAME


@dataclass(frozen=True)
class SourceFile:
    """A file to store: where it is on disk and the path it gets inside the version."""

    absolute: Path
    relative: str
    size: int
    mode: int


def normalised_mode(st_mode: int) -> int:
    """Only the executable bit survives, as in git, so umask differences keep digests equal."""
    return 0o755 if st_mode & stat.S_IXUSR else 0o644


def is_store_folder(folder: Path) -> bool:
    """A `.mlops/` store (this project's or another's): never part of a model."""
    return (folder / DB_FILENAME).is_file() and (folder / "objects").is_dir()


def collect_files(path: Path, store_root: Path | None = None) -> list[SourceFile]:
    """The regular files under `path` (or `path` itself), sorted by relative path.

    Store folders under `path` (`store_root`, and any `.mlops/` holding a database) are
    skipped: `register .` must not copy the live database, its -wal/-shm and the blobs into
    the model. Raises UsageError when `path` is a store or inside one; MlopsError for a missing
    path, an empty folder, a 0-byte model (nothing a runtime could load), an unreadable file,
    or a symlink that points outside the folder (which would smuggle other files into the store).
    """
    if not path.exists() and not path.is_symlink():
        raise MlopsError(f"{path}: no such file or folder")
    _refuse_store(path, store_root)
    if path.is_file():
        st = _stat_readable(path)
        if st.st_size == 0:
            raise MlopsError(f"{path} is empty (0 bytes): not a model", hint="check the file was written")
        return [
            SourceFile(path.resolve(), _storable(path, path.name), st.st_size, normalised_mode(st.st_mode))
        ]
    if not path.is_dir():
        raise MlopsError(f"{path}: not a regular file or folder")
    root = path.resolve()
    skipped = {store_root.resolve()} if store_root is not None else set()
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        for name in list(dirnames):
            candidate = current / name
            if candidate in skipped or (name == STORE_DIRNAME and is_store_folder(candidate)):
                dirnames.remove(name)
                continue
            if candidate.is_symlink():
                _check_inside(root, candidate)
                # A link to a folder inside the tree: its files are walked where they really are.
                dirnames.remove(name)
        for name in filenames:
            candidate = current / name
            if candidate.is_symlink():
                _check_inside(root, candidate)
            st = _stat_readable(candidate)
            if not stat.S_ISREG(st.st_mode):
                raise MlopsError(f"{candidate}: not a regular file")
            relative = _storable(candidate, candidate.relative_to(root).as_posix())
            files.append(SourceFile(candidate.resolve(), relative, st.st_size, normalised_mode(st.st_mode)))
    if not files:
        raise MlopsError(f"{path}: the folder is empty")
    if not any(f.size for f in files):
        # Empty files inside a model folder are normal (__init__.py, .gitkeep); only empty ones are not.
        raise MlopsError(f"{path}: every file in the folder is empty (0 bytes): not a model")
    files.sort(key=lambda f: f.relative)
    return files


def _storable(candidate: Path, relative: str) -> str:
    """`relative` when every command can later write it back inside a folder (relpaths.py)."""
    problem = path_problem(relative)
    if problem is not None:
        raise UsageError(
            f"{candidate}: its name cannot be stored ({problem})",
            hint="rename it: a file name without backslashes, control characters or a drive letter",
        )
    return relative


def _refuse_store(path: Path, store_root: Path | None) -> None:
    target = path.resolve()
    stores = [store_root.resolve()] if store_root is not None else []
    stores += [folder for folder in (target, *target.parents) if folder.name == STORE_DIRNAME]
    for store in stores:
        if store / "tmp" in target.parents:
            continue  # the store's scratch space, where derived models may be written first
        if (target == store or store in target.parents) and (store.is_dir() and is_store_folder(store)):
            raise UsageError(
                f"{path} is the mlops store {store} or inside it, not a model",
                hint="register the model's own file or folder",
            )


def _check_inside(root: Path, link: Path) -> None:
    target = link.resolve()
    if target != root and root not in target.parents:
        raise UsageError(
            f"{link} is a symlink to {target}, outside {root}",
            hint="copy the file into the folder, or register it separately",
        )
    if not target.exists():
        raise MlopsError(f"{link} is a broken symlink")


def _stat_readable(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except OSError as exc:
        raise MlopsError(f"cannot read {path}: {exc.strerror}") from exc
    if not os.access(path, os.R_OK):
        raise MlopsError(f"cannot read {path}: permission denied")
    return st
