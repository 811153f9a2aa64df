"""A remote in object storage (S3, Google Cloud Storage, Azure Blob) through fsspec.

Credentials come only from each backend's own environment and config files (AWS_* variables
and ~/.aws for s3fs, GOOGLE_APPLICATION_CREDENTIALS for gcsfs, AZURE_STORAGE_* for adlfs);
mlops stores none. Create-if-absent uses the service's conditional write: S3 `If-None-Match: *`,
GCS `ifGenerationMatch=0`, Azure `If-None-Match: *` (adlfs `overwrite=False`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any, BinaryIO

from mlops_cli.errors import MissingDependencyError, RemoteError
from mlops_cli.hashing import ALGORITHM, CHUNK
from mlops_cli.remote.urls import OBJECT_STORES

# What each backend passes to `pipe_file` for a write that fails when the object exists.
_CREATE_ONLY: dict[str, dict[str, Any]] = {
    "s3": {"mode": "create"},
    "gcs": {"mode": "create"},
    "az": {"overwrite": False},
}
# Fail in seconds, not minutes, when an endpoint does not answer (s3fs retries 5 times itself).
_OPTIONS: dict[str, dict[str, Any]] = {
    "s3": {"config_kwargs": {"connect_timeout": 5, "retries": {"max_attempts": 2}}},
}
CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`",
    "az": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a key or `az login`",
}
GUARANTEES = {
    "s3": "create-if-absent by conditional PUT (If-None-Match: *), atomic on AWS S3 since 2024-08",
    "gcs": "create-if-absent by ifGenerationMatch=0 (atomic)",
    "az": "create-if-absent by If-None-Match: * (atomic)",
}


class ObjectStoreBackend:
    """Paths are `/`-separated and relative to `BUCKET/PREFIX`."""

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        self.protocol, module, extra = OBJECT_STORES[scheme]
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, extra)
        import fsspec

        self.url = url
        self.root = rest.strip("/")
        self.bucket = self.root.split("/", 1)[0]
        self.guarantees = GUARANTEES[self.protocol]
        self.fs = fsspec.filesystem(
            self.protocol, skip_instance_cache=True, **_OPTIONS.get(self.protocol, {})
        )
        if hasattr(self.fs, "retries"):
            self.fs.retries = 2

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (FileNotFoundError, FileExistsError):
            raise
        except Exception as exc:  # noqa: BLE001 - each backend raises its own types; named below
            raise _error(exc, what, self.url, CREDENTIALS[self.protocol]) from exc

    # -- reading -------------------------------------------------------------------------------

    def check(self, create: bool = False) -> None:
        """RemoteError unless the bucket exists and answers (a push never creates buckets)."""
        try:
            self._call("reaching the bucket", self.fs.info, self.bucket)
        except FileNotFoundError:
            raise RemoteError(
                f"the bucket of {self.url} does not exist or is not reachable",
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


def _error(exc: Exception, what: str, url: str, credentials: str) -> RemoteError:
    """One line a person can act on, for the many error types of the backends."""
    name = type(exc).__name__
    text = str(exc) or name
    if "Credentials" in name or "credential" in text.lower() or isinstance(exc, PermissionError):
        return RemoteError(
            f"{url}: no usable credentials while {what} ({text})",
            hint=f"set the usual credentials: {credentials}",
        )
    return RemoteError(
        f"{url} is unreachable while {what}: {text}",
        hint="check the network, the URL and the endpoint (AWS_ENDPOINT_URL for S3-compatible stores)",
    )


class _Discard:
    """A sink for bytes that are only hashed."""

    def write(self, data: bytes) -> int:
        return len(data)
