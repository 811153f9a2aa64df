"""A remote in object storage (S3, Google Cloud Storage, Azure Blob), opened through
mlops_cli/storage/ like every other URL (credentials from the environment, the same errors
and exit codes). Create-if-absent uses the service's conditional write: S3 `If-None-Match: *`,
GCS `ifGenerationMatch=0`, Azure `If-None-Match: *` (adlfs `overwrite=False`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from mlops_cli import storage
from mlops_cli.errors import NotFoundError, RemoteError
from mlops_cli.hashing import ALGORITHM, CHUNK

# What each backend passes to `pipe_file` for a write that fails when the object exists.
_CREATE_ONLY: dict[str, dict[str, object]] = {
    "s3": {"mode": "create"},
    "gcs": {"mode": "create"},
    "az": {"overwrite": False},
}
GUARANTEES = {
    "s3": "create-if-absent by conditional PUT (If-None-Match: *), atomic on AWS S3 since 2024-08",
    "gcs": "create-if-absent by ifGenerationMatch=0 (atomic)",
    "az": "create-if-absent by If-None-Match: * (atomic)",
}


class ObjectStoreBackend:
    """Paths are `/`-separated and relative to `BUCKET/PREFIX`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.protocol = storage.backend_of(url).protocol
        self.fs, self.root = storage.filesystem(url)
        self.bucket = storage.bucket_of(url)
        self.guarantees = GUARANTEES[self.protocol]

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def _call(self, what: str, function, *args, **kwargs):
        """`function`, its backend's errors mapped by storage.errors; a missing object and a
        create that found one pass through as FileNotFoundError/FileExistsError."""
        try:
            return function(*args, **kwargs)
        except (FileNotFoundError, FileExistsError):
            raise
        except Exception:  # noqa: BLE001 - re-raised, mapped by storage.errors
            with storage.errors(self.url, f"{what} on"):
                raise

    # -- reading -------------------------------------------------------------------------------

    def check(self, create: bool = False) -> None:
        """NotFoundError (exit 1) when the bucket does not exist (a push never creates buckets),
        StorageError (exit 4) when it does not answer or refuses the credentials."""
        try:
            self._call("reaching the bucket", self.fs.info, self.bucket)
        except FileNotFoundError:
            raise NotFoundError(
                f"the bucket {self.bucket!r} of {self.url} does not exist",
                hint="create the bucket, or check the URL and the endpoint (AWS_ENDPOINT_URL)",
            ) from None

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self._call(f"reading {path}", self.fs.cat_file, self._full(path))
        except FileNotFoundError:
            return None

    def list(self, folder: str) -> list[str]:
        full = self._full(folder)
        self.fs.invalidate_cache(full)
        try:
            names = self._call(f"listing {folder}", self.fs.ls, full, detail=False)
        except FileNotFoundError:
            return []
        return [name.rstrip("/").rsplit("/", 1)[-1] for name in names if name.rstrip("/") != full]

    def blob_size(self, path: str) -> int | None:
        try:
            return int(self._call(f"reading {path}", self.fs.info, self._full(path))["size"])
        except FileNotFoundError:
            return None

    def download(self, path: str, dest: BinaryIO) -> tuple[str, int]:
        hasher, size = hashlib.sha256(), 0
        try:
            handle = self._call(f"reading {path}", self.fs.open, self._full(path), "rb", block_size=CHUNK)
        except FileNotFoundError:
            raise
        with handle:
            while chunk := self._call(f"reading {path}", handle.read, CHUNK):
                hasher.update(chunk)
                dest.write(chunk)
                size += len(chunk)
        return f"{ALGORITHM}:{hasher.hexdigest()}", size

    def blob_digest(self, path: str) -> str | None:
        """Re-hash a blob by reading it back (`push --verify`); None when it is not there."""
        try:
            return self.download(path, _Discard())[0]
        except FileNotFoundError:
            return None

    # -- writing -------------------------------------------------------------------------------

    def create(self, path: str, data: bytes) -> bool:
        try:
            self._call(
                f"writing {path}", self.fs.pipe_file, self._full(path), data, **_CREATE_ONLY[self.protocol]
            )
        except FileExistsError:
            return False
        return True

    def upload(self, source: Path, path: str, digest: str, size: int) -> None:
        """Upload a blob, then check the service holds `size` bytes under its name."""
        self._call(f"uploading {path}", self.fs.put_file, str(source), self._full(path))
        stored = self.blob_size(path)
        if stored != size:
            raise RemoteError(
                f"the upload of blob {digest} did not arrive whole ({stored} of {size} bytes)",
                hint="push again",
            )


class _Discard:
    """A sink for bytes that are only hashed."""

    def write(self, data: bytes) -> int:
        return len(data)
