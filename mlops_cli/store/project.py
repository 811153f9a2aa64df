"""Where the store lives: `.mlops/` in the project, found by walking up from the cwd."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import StoreNotFoundError

STORE_DIRNAME = ".mlops"
DB_FILENAME = "mlops.db"
STORE_ENV = "MLOPS_STORE"


@dataclass(frozen=True)
class StorePaths:
    """The fixed layout of a store folder."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_FILENAME

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def project_dir(self) -> Path:
        return self.root.parent


def _looks_like_store(path: Path) -> bool:
    """A database file, or blobs without one: a damaged store is still found, so that
    `open_store` can refuse it loudly instead of reporting "no store" (or making a new one)."""
    return (path / DB_FILENAME).exists() or (path / "objects" / "sha256").is_dir()


def _as_store(path: Path) -> Path | None:
    """`path` is either a store folder itself or a project folder holding `.mlops/`."""
    if _looks_like_store(path):
        return path
    if _looks_like_store(path / STORE_DIRNAME):
        return path / STORE_DIRNAME
    return None


def find_store(explicit: Path | None = None, start: Path | None = None) -> StorePaths:
    """Return the store named by `explicit` (or MLOPS_STORE), else the nearest one upwards.

    Raises StoreNotFoundError (exit code 3) when there is none.
    """
    if explicit is None and os.environ.get(STORE_ENV):
        explicit = Path(os.environ[STORE_ENV])
    if explicit is not None:
        absolute = explicit.expanduser().absolute()
        if absolute.is_file():
            # `mlops init --path FILE` cannot help here; name the real problem.
            if absolute.name == DB_FILENAME:
                hint = f"pass the folder holding it: --store {absolute.parent}"
            else:
                hint = "pass a project folder or its .mlops folder"
            raise StoreNotFoundError(f"the store path {explicit} is a file, not a folder", hint=hint)
        found = _as_store(absolute)
        if found is None:
            raise StoreNotFoundError(
                f"no mlops store at {explicit}", hint=f"run `mlops init --path {explicit}`"
            )
        return StorePaths(found)
    current = (start or Path.cwd()).absolute()
    for folder in (current, *current.parents):
        found = _as_store(folder)
        if found is not None:
            return StorePaths(found)
    raise StoreNotFoundError(
        "no .mlops store in this folder or any parent", hint="run `mlops init` in your project"
    )


def store_paths_for_init(project_dir: Path) -> StorePaths:
    """The store folder `mlops init` creates inside `project_dir`."""
    return StorePaths(project_dir.expanduser().absolute() / STORE_DIRNAME)
