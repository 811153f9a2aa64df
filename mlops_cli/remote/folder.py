"""A remote in a folder (a shared disk, NFS, a synced drive): the standard library only.

Create-if-absent is a hard link of a fully written temp file onto the final name: `link()`
fails when the name exists, so of two writers exactly one wins and nobody ever sees a partial
file. Blobs are copied by the kernel (as `cp` does) into a temp file, fsynced, size-checked and
renamed into place; `push --verify` re-hashes them.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from pathlib import Path
from typing import BinaryIO

from mlops_cli.errors import RemoteError
from mlops_cli.hashing import CHUNK, sha256_file

TMP = "tmp"


class FolderBackend:
    """Paths are `/`-separated and relative to the remote's root folder."""

    guarantees = "create-if-absent by link(2): atomic on local disks and NFSv3+"

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = Path(url)
        self._made: set[Path] = set()  # folders known to exist: checked once per command

    # -- reading -------------------------------------------------------------------------------

    def check(self, create: bool = False) -> None:
        """RemoteError unless the folder is there; with `create`, its parent is enough (a push
        makes the folder), so a mistyped path or an unmounted share is not silently created."""
        if create and not self.root.is_dir():
            if not self.root.parent.is_dir():
                raise RemoteError(
                    f"the remote folder's parent {self.root.parent} does not exist (is the share mounted?)",
                    hint="create it, or fix the URL: mlops remote add NAME URL",
                )
            return
        if not self.root.is_dir():
            raise RemoteError(
                f"the remote folder {self.root} does not exist or is not reachable",
                hint="mount it, or fix the URL: mlops remote add NAME URL",
            )

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _error(exc, f"reading {path}") from exc

    def list(self, folder: str) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self.root / folder)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise _error(exc, f"listing {folder}") from exc

    def blob_size(self, path: str) -> int | None:
        try:
            return (self.root / path).stat().st_size
        except FileNotFoundError:
            return None

    def download(self, path: str, dest: BinaryIO) -> tuple[str, int]:
        """Copy a file into `dest`, returning the (digest, size) of the bytes copied."""
        try:
            return sha256_file(self.root / path, copy_to=dest)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _error(exc, f"reading {path}") from exc

    # -- writing -------------------------------------------------------------------------------

    def _temp(self) -> Path:
        folder = self.root / TMP
        if folder not in self._made:
            self._mkdir(folder)
            _sweep(folder)
        return folder / f"{os.getpid()}-{secrets.token_hex(8)}.part"

    def _mkdir(self, folder: Path) -> None:
        """Folders take the root's permissions: owner-only unless the team's folder is shared."""
        if folder in self._made:
            return
        mode = self._dir_mode()
        try:
            if not self.root.is_dir():
                try:
                    self.root.mkdir(parents=True, mode=mode)
                except FileExistsError:  # another push made it between the check and here
                    if not self.root.is_dir():
                        raise
            current = self.root
            for part in folder.relative_to(self.root).parts:
                current = current / part
                current.mkdir(exist_ok=True, mode=mode)
        except OSError as exc:
            raise _error(exc, f"creating {folder}") from exc
        self._made.add(folder)

    def _dir_mode(self) -> int:
        try:
            return stat.S_IMODE(self.root.stat().st_mode) | stat.S_IRWXU
        except FileNotFoundError:
            return stat.S_IRWXU

    def create(self, path: str, data: bytes) -> bool:
        """Write `path` only if it does not exist; False when it did (someone else's stays)."""
        final = self.root / path
        self._mkdir(final.parent)
        temp = self._temp()
        try:
            with open(temp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, self._dir_mode() & 0o444)
            try:
                os.link(temp, final)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                return _create_exclusive(final, data)
            return True
        except OSError as exc:
            raise _error(exc, f"writing {path}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def upload(self, source: Path, path: str, digest: str, size: int) -> None:
        """Copy a local blob to `path` as `cp` does (in the kernel), fsync it, check its size,
        then move it into place: a blob is never visible under its name half-written."""
        final = self.root / path
        self._mkdir(final.parent)
        temp = self._temp()
        try:
            with open(source, "rb") as src, open(temp, "xb") as dst:
                _kernel_copy(src.fileno(), dst.fileno())
                os.fsync(dst.fileno())
                written = os.fstat(dst.fileno()).st_size
            if written != size:
                raise RemoteError(
                    f"the upload of blob {digest} wrote {written} of {size} bytes", hint="push again"
                )
            os.chmod(temp, self._dir_mode() & 0o444)
            os.replace(temp, final)
        except OSError as exc:
            raise _error(exc, f"uploading {path}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def blob_digest(self, path: str) -> str | None:
        """Re-hash a blob on the remote (`push --verify`); None when it is not there."""
        try:
            return sha256_file(self.root / path)[0]
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _error(exc, f"reading {path}") from exc


# What link(2) fails with on filesystems without hard links (FAT, exFAT, some SMB shares).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK}


def _create_exclusive(final: Path, data: bytes) -> bool:
    """O_EXCL creation, where hard links are missing: still one winner, but a reader racing the
    writer may see a partial record (parsing then fails and names the file; a retry reads it)."""
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


# A temp file this old belongs to a push that died (its pid means nothing on another machine).
STALE_TEMP_SECONDS = 24 * 3600


def _sweep(folder: Path) -> None:
    """Remove uploads that a killed push left in the remote's tmp/ a day ago or more."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    try:
        for entry in os.scandir(folder):
            if entry.name.endswith(".part") and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
    except OSError:
        pass  # someone else swept it first, or it is not ours to remove: harmless either way


def _kernel_copy(src: int, dst: int) -> None:
    """Copy a whole file without passing its bytes through Python (copy_file_range, as `cp`)."""
    size = os.fstat(src).st_size
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(src, dst, size - copied)
            if n == 0:
                break
            copied += n
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL) or copied:
            raise
        while chunk := os.read(src, CHUNK):  # a filesystem without copy_file_range
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst, view) :]


def _error(exc: OSError, what: str) -> RemoteError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RemoteError(f"cannot write the remote while {what}: {exc.strerror}", hint=str(exc))
    if exc.errno == errno.ENOSPC:
        return RemoteError(f"the remote's disk is full while {what}")
    return RemoteError(f"I/O error on the remote while {what}: {exc}")
