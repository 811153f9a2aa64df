"""A step's outs in the store's content-addressed blobs: kept after a run, put back on demand.

A file out is one blob; a folder out is a blob per file plus a blob of its listing (the text
its digest is the hash of), so either can be restored from the digest the lock file records.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_cli.errors import MlopsError
from mlops_cli.hashing import ALGORITHM
from mlops_cli.pipeline.lock import LockedPath
from mlops_cli.pipeline.state import PathDigest, StateCache, listing_bytes
from mlops_cli.store.cas import ObjectStore


def store_out(objects: ObjectStore, root: Path, path: str, found: PathDigest) -> list[str]:
    """Put an out's bytes in the store; return every blob digest it now holds (to reference)."""
    target = root / path
    if found.nfiles is None:
        _put(objects, target, found.digest, found.size, path)
        return [found.digest]
    digests = [found.digest]
    for relative, digest, size in found.listing:
        _put(objects, target / relative, digest, size, f"{path}/{relative}")
        digests.append(digest)
    objects.put_bytes(listing_bytes(found.listing))  # what the folder's digest is the hash of
    return digests


def _put(objects: ObjectStore, source: Path, digest: str, size: int, label: str) -> None:
    """Copy a file in unless its blob is already there (hashed once, by the state cache)."""
    if objects.has(digest, size):
        return
    if objects.put_file(source).digest != digest:
        raise MlopsError(f"out {label} changed while it was being stored")


def can_restore(objects: ObjectStore, out: LockedPath) -> bool:
    """True when every blob of a locked out is in the store."""
    if not objects.has(out.digest):
        return False
    if out.nfiles is None:
        return objects.has(out.digest, out.size)
    return all(objects.has(d, s) for _, d, s in _read_listing(objects, out.digest))


def restore_out(objects: ObjectStore, root: Path, out: LockedPath, cache: StateCache) -> None:
    """Write a locked out back from the store (replacing what is there), verifying digests."""
    target = root / out.path
    _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if out.nfiles is None:
        objects.materialise(out.digest, out.size, target, 0o644)
        return
    target.mkdir()
    for relative, digest, size in _read_listing(objects, out.digest):
        dest = target / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        objects.materialise(digest, size, dest, 0o644)


def remove_outs(root: Path, outs: tuple[str, ...]) -> None:
    """Remove a step's outs before it runs (as DVC does), so an out it fails to write is noticed."""
    for out in outs:
        _remove(root / out)


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def _read_listing(objects: ObjectStore, digest: str) -> list[tuple[str, str, int]]:
    rows = []
    for line in objects.path_for(digest).read_text(encoding="utf-8").splitlines():
        file_digest, size, relative = line.split(" ", 2)
        if not file_digest.startswith(f"{ALGORITHM}:"):
            raise MlopsError(f"folder listing {digest} is malformed")
        rows.append((relative, file_digest, int(size)))
    return rows
