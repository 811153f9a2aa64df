"""A remote in a folder (a shared disk, NFS, a synced drive): the standard library only.

Create-if-absent is a hard link of a fully written temp file onto the final name: `link()`
fails when the name exists, so of two writers exactly one wins and nobody ever sees a partial
file. Blobs are copied through a temp file, their bytes hashed as they are written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from mlops_cli.errors import IntegrityError, RemoteError
from mlops_cli.hashing import ALGORITHM, CHUNK, advise_sequential, sha256_file

TMP = "tmp"


class FolderBackend:
    """Paths are `/`-separated and relative to the remote's root folder."""

    guarantees = "create-if-absent by link(2): atomic on local disks and NFSv3+"

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = Path(url)
        self._made: set[Path] = set()  # folders known to exist: checked once per command

    # -- reading -------------------------------------------------------------------------------

    def check(self) -> None:
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
        self._mkdir(folder)
        return folder / f"{os.getpid()}-{secrets.token_hex(8)}.part"

    def _mkdir(self, folder: Path) -> None:
        """Folders take the root's permissions: owner-only unless the team's folder is shared."""
        if folder in self._made:
            return
        mode = self._dir_mode()
        try:
            if not self.root.is_dir():
                self.root.mkdir(parents=True, mode=mode)
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
            return True
        except OSError as exc:
            raise _error(exc, f"writing {path}") from exc
        finally:
            temp.unlink(missing_ok=True)

    def upload(self, source: Path, path: str, digest: str, size: int) -> None:
        """Copy a local blob to `path`, verifying the bytes written hash to `digest`."""
        final = self.root / path
        self._mkdir(final.parent)
        temp = self._temp()
        try:
            with open(temp, "xb", buffering=0) as dst:
                written_digest = _copy_hashing(source, dst)
                os.fsync(dst.fileno())
                written_size = os.fstat(dst.fileno()).st_size
            if written_digest != digest or written_size != size:
                raise IntegrityError(
                    f"blob {digest} changed while it was uploaded (wrote {written_size} bytes hashing"
                    f" to {written_digest})",
                    hint="run `mlops audit verify` on this store",
                )
            os.chmod(temp, self._dir_mode() & 0o444)
            os.replace(temp, final)
        except OSError as exc:
            raise _error(exc, f"uploading {path}") from exc
        finally:
            temp.unlink(missing_ok=True)


def _copy_hashing(source: Path, dst: BinaryIO) -> str:
    """Copy `source` to `dst` and return the digest of the bytes written.

    The hash runs in a second thread over the chunk just written while the next is read (both
    release the GIL), so copying costs about as much as the slower of the two, not their sum.
    """
    hasher = hashlib.sha256()
    buffers = [bytearray(CHUNK) for _ in range(3)]
    pending: list = [None] * len(buffers)
    with ThreadPoolExecutor(1) as hashing, open(source, "rb", buffering=0) as src:
        advise_sequential(src.fileno())
        index = 0
        while True:
            slot = index % len(buffers)
            if pending[slot] is not None:
                pending[slot].result()  # the buffer is reused only once it was hashed
            n = src.readinto(buffers[slot])
            if not n:
                break
            chunk = memoryview(buffers[slot])[:n]
            pending[slot] = hashing.submit(hasher.update, chunk)
            written = 0
            while written < n:
                written += dst.write(chunk[written:])
            index += 1
        for future in pending:
            if future is not None:
                future.result()
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def _error(exc: OSError, what: str) -> RemoteError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return RemoteError(f"cannot write the remote while {what}: {exc.strerror}", hint=str(exc))
    if exc.errno == errno.ENOSPC:
        return RemoteError(f"the remote's disk is full while {what}")
    return RemoteError(f"I/O error on the remote while {what}: {exc}")
