"""Content-addressed blobs: `objects/sha256/ab/cdef...`, written once, read-only, verified.

A blob is hashed while it is copied (one read pass) into `tmp/`, fsynced, then renamed into
place, so a crash never leaves a partial blob under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import IntegrityError, MlopsError, StoreError
from mlops_cli.hashing import ALGORITHM, sha256_file
from mlops_cli.pids import pid_alive
from mlops_cli.store.db import read_only_error

Progress = Callable[[int], None]


@dataclass(frozen=True)
class PutResult:
    digest: str  # "sha256:<hex>"
    size: int
    written: bool  # False when an identical blob was already there


def hex_of(digest: str) -> str:
    algorithm, _, hexdigest = digest.rpartition(":")
    if algorithm not in ("", ALGORITHM) or len(hexdigest) != 64:
        raise StoreError(f"malformed digest {digest!r}")
    return hexdigest


def _os_error(exc: OSError, what: str) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"the disk is full while {what}; nothing was stored")
    if exc.errno == errno.EROFS:
        return read_only_error(_store_of(exc.filename))
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StoreError(f"cannot write the store while {what}: {exc.strerror}", hint=str(exc))
    return StoreError(f"I/O error while {what}: {exc}")


def _store_of(filename: object) -> Path | None:
    """The `.mlops` folder a failing path lies in, to name it in the message."""
    if not isinstance(filename, (str, os.PathLike)):
        return None
    path = Path(filename)
    for folder in (path, *path.parents):
        if folder.name == ".mlops":
            return folder
    return None


def _remove_temp(temp: Path) -> None:
    """Remove a temp file on the way out of a failure; the failure is what gets reported.

    On a read-only filesystem even unlinking a file that was never created fails (EROFS), and
    that second error must not hide the first.
    """
    try:
        temp.unlink(missing_ok=True)
    except OSError:
        pass


@dataclass(frozen=True)
class TempLeftovers:
    """Temp data in `tmp/` of processes that no longer run (a kill -9 mid-register, a crash)."""

    files: int
    bytes: int
    removed: bool  # False when it could not be removed (a read-only store)

    def to_dict(self) -> dict[str, object]:
        return {"files": self.files, "bytes": self.bytes, "removed": self.removed}


def tree_size(entry: Path) -> int:
    """Bytes of a file, or of every file below a folder (a trash); 0 when it is gone."""
    try:
        if entry.is_dir() and not entry.is_symlink():
            return sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        return entry.lstat().st_size
    except OSError:
        return 0


def _mtime(entry: Path) -> float:
    try:
        return entry.lstat().st_mtime
    except OSError:
        return float("inf")  # gone already: nothing to remove


class ObjectStore:
    """The blob area of one store. Every method takes and returns `sha256:<hex>` digests."""

    def __init__(self, objects_dir: Path, tmp_dir: Path) -> None:
        self.root = objects_dir / ALGORITHM
        self.tmp = tmp_dir

    def path_for(self, digest: str) -> Path:
        hexdigest = hex_of(digest)
        return self.root / hexdigest[:2] / hexdigest[2:]

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = self.path_for(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def stale_temp_entries(self, nameless_older_than: float | None = None) -> list[Path]:
        """Entries of `tmp/` whose writer (the pid their name starts with) no longer runs.

        With `nameless_older_than` (a time), also entries whose name carries no writer pid and
        that were last changed before it (what gc removes after its grace period).
        """
        try:
            entries = list(self.tmp.iterdir())
        except OSError:  # no tmp/ (yet), or unreadable
            return []
        stale = []
        for entry in entries:
            pid_text = entry.name.split("-", 1)[0]
            if pid_text.isdigit():
                if not pid_alive(int(pid_text)):
                    stale.append(entry)
            elif nameless_older_than is not None and _mtime(entry) < nameless_older_than:
                stale.append(entry)
        return stale

    def sweep_stale_temp(self) -> TempLeftovers | None:
        """Measure and remove the temp data of dead writers; None when there is none.

        Any command may do this (it runs when a store is opened), so a kill -9 mid-register
        leaves its `.part` only until the next command. On a read-only store nothing can be
        removed: the leftovers are reported with `removed=False`.
        """
        stale = self.stale_temp_entries()
        if not stale:
            return None
        size = sum(tree_size(entry) for entry in stale)
        try:
            for entry in stale:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)
        except OSError:
            remaining = self.stale_temp_entries()
            return TempLeftovers(len(remaining), sum(tree_size(e) for e in remaining), removed=False)
        return TempLeftovers(len(stale), size, removed=True)

    def hash_file(self, source: Path, progress: Progress | None = None) -> tuple[str, int]:
        """Hash a file without storing it; return (digest, size)."""
        return sha256_file(source, progress)

    def put_file(
        self, source: Path, *, likely_present: bool = False, progress: Progress | None = None
    ) -> PutResult:
        """Store a file's bytes; return its digest and whether a new blob was written.

        With `likely_present` (a blob of the same size exists) the file is hashed first and
        not copied at all when the blob is there, which makes re-registering cheap.
        """
        if likely_present:
            digest, size = self.hash_file(source)
            if self.has(digest, size):
                self._touch(digest)
                if progress:
                    progress(size)
                return PutResult(digest, size, written=False)
        return self._copy_in(source, progress)

    def put_bytes(self, data: bytes) -> PutResult:
        """Store a small in-memory document (an environment snapshot), written once like a file."""
        digest = f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"
        if self.has(digest, len(data)):
            self._touch(digest)
            return PutResult(digest, len(data), written=False)
        temp = self.tmp / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            with open(temp, "xb") as dst:
                dst.write(data)
                dst.flush()
                os.fsync(dst.fileno())
            return self._place(temp, digest, len(data))
        except OSError as exc:
            _remove_temp(temp)
            raise _os_error(exc, "storing a document") from exc
        except BaseException:
            _remove_temp(temp)
            raise

    def _place(self, temp: Path, digest: str, size: int) -> PutResult:
        """Rename a complete, fsynced temp file to its blob path (or drop it: already there)."""
        if self.has(digest, size):
            temp.unlink()
            self._touch(digest)
            return PutResult(digest, size, written=False)
        final = self.path_for(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp, 0o444)
        os.replace(temp, final)
        _fsync_dir(final.parent)
        return PutResult(digest, size, written=True)

    def _copy_in(self, source: Path, progress: Progress | None) -> PutResult:
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, "preparing the store") from exc
        temp = self.tmp / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        try:
            with open(temp, "xb", buffering=0) as dst:
                digest, size = sha256_file(source, progress, copy_to=dst)
                os.fsync(dst.fileno())
            return self._place(temp, digest, size)
        except OSError as exc:
            _remove_temp(temp)
            if exc.filename and Path(exc.filename) == source:
                raise MlopsError(f"cannot read {source}: {exc.strerror}") from exc
            raise _os_error(exc, f"storing {source.name}") from exc
        except BaseException:
            _remove_temp(temp)
            raise

    def adopt(self, temp: Path, digest: str) -> bool:
        """Move a file already verified to hash to `digest` into place; False when the blob was
        there already (the file is then left for its owner to remove)."""
        final = self.path_for(digest)
        if final.exists():
            return False
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(temp, 0o444)
            os.replace(temp, final)
        except OSError as exc:
            raise _os_error(exc, f"storing blob {digest}") from exc
        _fsync_dir(final.parent)
        return True

    def _touch(self, digest: str) -> None:
        """Mark a reused blob fresh, so `gc`'s grace period protects it until it is referenced."""
        try:
            os.utime(self.path_for(digest))
        except OSError:
            pass  # a read-only store cannot be collected either

    def verify(self, digest: str, size: int | None = None, progress: Progress | None = None) -> str | None:
        """Re-hash a blob; return None when intact, else what is wrong with it."""
        path = self.path_for(digest)
        if not path.is_file():
            return "missing"
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            return f"size {actual_size}, expected {size}"
        actual, _ = self.hash_file(path, progress)
        if actual != f"{ALGORITHM}:{hex_of(digest)}":
            return f"content hashes to {actual}"
        return None

    def materialise(self, digest: str, size: int, dest: Path, mode: int) -> None:
        """Copy a blob to `dest`, verifying size and digest as it is copied.

        IntegrityError (exit 5) for a missing or altered blob; `dest` is then removed.
        """
        path = self.path_for(digest)
        if not path.is_file():
            raise IntegrityError(f"blob {digest} is missing from the store", hint="run `mlops audit verify`")
        with open(dest, "wb", buffering=0) as dst:
            actual, copied = sha256_file(path, copy_to=dst)
        if copied != size or actual != f"{ALGORITHM}:{hex_of(digest)}":
            dest.unlink(missing_ok=True)
            raise IntegrityError(
                f"blob {digest} is corrupt (size or digest differ)", hint="run `mlops audit verify`"
            )
        os.chmod(dest, mode & 0o777 | stat.S_IWUSR)

    def remove(self, digest: str) -> None:
        self.path_for(digest).unlink(missing_ok=True)


def count_blobs(objects_dir: Path) -> int:
    """How many blob files `objects/` holds (0 when it does not exist): the data at stake."""
    root = objects_dir / ALGORITHM
    if not root.is_dir():
        return 0
    return sum(1 for prefix in root.iterdir() if prefix.is_dir() for _ in prefix.iterdir())


def iter_blob_paths(objects_dir: Path):
    """(digest, path) of every blob file under `objects/`, whatever the database says."""
    root = objects_dir / ALGORITHM
    if not root.is_dir():
        return
    for prefix in sorted(root.iterdir()):
        if prefix.is_dir() and len(prefix.name) == 2:
            for blob in sorted(prefix.iterdir()):
                if len(prefix.name + blob.name) == 64:
                    yield f"{ALGORITHM}:{prefix.name}{blob.name}", blob


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
