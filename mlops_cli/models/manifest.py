"""Turning a file or folder into the list of files a version is made of, safely."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import MlopsError, UsageError


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


def collect_files(path: Path) -> list[SourceFile]:
    """The regular files under `path` (or `path` itself), sorted by relative path.

    Raises MlopsError for a missing path, an empty folder, an unreadable file, or a symlink
    that points outside the folder (which would smuggle other files into the store).
    """
    if not path.exists() and not path.is_symlink():
        raise MlopsError(f"{path}: no such file or folder")
    if path.is_file():
        st = _stat_readable(path)
        return [SourceFile(path.resolve(), path.name, st.st_size, normalised_mode(st.st_mode))]
    if not path.is_dir():
        raise MlopsError(f"{path}: not a regular file or folder")
    root = path.resolve()
    files: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        for name in list(dirnames):
            candidate = current / name
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
            relative = candidate.relative_to(root).as_posix()
            files.append(SourceFile(candidate.resolve(), relative, st.st_size, normalised_mode(st.st_mode)))
    if not files:
        raise MlopsError(f"{path}: the folder is empty")
    files.sort(key=lambda f: f.relative)
    return files


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
