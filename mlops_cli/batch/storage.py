"""Object-storage URLs (`s3://`, `gs://`, `az://`) for score-batch, through fsspec; one module.

Everything that opens, lists or publishes a URL goes through here, so the backends' errors
become one `error:` line each (a missing bucket, refused credentials, an endpoint that does not
answer) and the backends stay optional extras. `file://` URLs are plain local paths.

Publishing: object stores have no rename, but a single object appears only when its upload
completes (S3's PUT and CompleteMultipartUpload, a GCS upload's final request, an Azure block
blob's commit): a reader sees the old object or the whole new one, never a part. So an output
is assembled locally and published as one object, last.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlops_cli.errors import ExternalToolError, MissingDependencyError, MlopsError, NotFoundError, UsageError

# scheme -> (the fsspec backend's module, the mlops-cli extra that installs it)
BACKENDS = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
}
READ_BLOCK = 32 << 20
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class StorageError(ExternalToolError):
    """The object store refused or could not be reached (exit 4)."""


def scheme_of(text: str) -> str | None:
    match = _URL.match(str(text))
    return match[1].lower() if match else None


def is_url(text: object) -> bool:
    """True for an object-storage URL (not for a local path or a `file://` URL)."""
    return scheme_of(str(text)) not in (None, "file")


def local_path(text: str) -> str:
    """A `file://` URL as a local path; anything else unchanged."""
    if scheme_of(text) == "file":
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(text).path)
    return text


def location(text: str) -> Path | str:
    """What the user typed as an input/output: a Path, or the URL as a string."""
    text = local_path(text)
    return text if is_url(text) else Path(text)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for `url` and the path within it (bucket/key).

    Raises UsageError for an unknown scheme, MissingDependencyError when its backend is missing.
    """
    scheme = scheme_of(url)
    if scheme not in BACKENDS:
        known = ", ".join(sorted({f"{s}://" for s in BACKENDS}))
        raise UsageError(f"{url}: unknown storage scheme {scheme}://", hint=f"use a local path or {known}")
    module, extra = BACKENDS[scheme]
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError("fsspec", extra) from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        raise MissingDependencyError(module, extra) from None


def bucket_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def join(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name


def url_of(url: str, path: str) -> str:
    """A path the filesystem returned (bucket/key) as a URL with the scheme `url` has."""
    return f"{scheme_of(url)}://{path}"


@contextmanager
def errors(url: str, what: str = "") -> Iterator[None]:
    """Turn a backend's exceptions into one-line errors naming `url`."""
    label = f"{what} {url}".strip()
    try:
        yield
    except MlopsError:
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"{label}: {_reason(exc, 'no such object')}", hint=_bucket_hint(url)) from exc
    except PermissionError as exc:
        raise StorageError(
            f"{label}: access denied: {_reason(exc, 'forbidden')}",
            hint="check the credentials (AWS_ACCESS_KEY_ID/AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS,"
            " AZURE_STORAGE_*) and the bucket's permissions",
        ) from exc
    except OSError as exc:
        raise StorageError(f"{label}: {_reason(exc, type(exc).__name__)}") from exc
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp connection errors have no common base
        if type(exc).__module__.split(".")[0] in ("botocore", "aiobotocore", "aiohttp", "google", "azure"):
            raise StorageError(
                f"{label}: {_reason(exc, type(exc).__name__)}",
                hint="is the endpoint reachable? (AWS_ENDPOINT_URL for S3-compatible servers)",
            ) from exc
        raise


def _reason(exc: BaseException, default: str) -> str:
    text = str(exc.args[-1] if isinstance(exc, OSError) and exc.args else exc).strip()
    return text.splitlines()[0] if text else default


def _bucket_hint(url: str) -> str:
    return f"check that the bucket {bucket_of(url)!r} and the object exist"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int
    version: str  # the ETag / generation: what changes when the object does


def list_inputs(pattern: str, suffixes: tuple[str, ...]) -> list[RemoteFile]:
    """Objects named by a URL: one object, a prefix ("folder") of them, or a glob; sorted by key."""
    fs, path = filesystem(pattern)
    with errors(pattern, "input"):
        fs.invalidate_cache()  # listings cached by an earlier call in this process may be stale
        if any(c in path for c in "*?["):
            infos = [fs.info(p) for p in fs.glob(path)]
        else:
            info = fs.info(path)
            if info["type"] == "directory":
                infos = [i for i in fs.ls(path, detail=True) if i["type"] == "file"]
                infos = [i for i in infos if i["name"].lower().endswith(suffixes)]
                if not infos:
                    raise NotFoundError(f"{pattern} holds no .csv, .parquet or .jsonl objects")
            else:
                infos = [info]
    files = [
        RemoteFile(url_of(pattern, i["name"]), int(i["size"]), str(i.get("ETag") or i.get("etag") or ""))
        for i in infos
        if i.get("type") == "file"
    ]
    if not files:
        raise NotFoundError(f"no objects match {pattern}")
    return sorted(files, key=lambda f: f.url)


def open_input(url: str) -> BinaryIO:
    """A binary file object reading the object at `url`: 32 MB ranged reads, the next block
    fetched in a background thread while this one is parsed (fsspec's "background" cache).
    Parquet from S3 on 127.0.0.1, 1M rows x 20 columns: 2.75 s against 2.47 s from disk; with
    s3fs's default (50 MB blocks fetched when needed) 17-32 s. Memory: two blocks."""
    fs, path = filesystem(url)
    with errors(url, "input"):
        return fs.open(path, "rb", block_size=READ_BLOCK, cache_type="background")


def check_writable(url: str, what: str) -> None:
    """Fail early (before any scoring) when the bucket is missing or the credentials refused."""
    fs, path = filesystem(url)
    bucket = bucket_of(url)
    with errors(url, what):
        if not fs.exists(bucket):
            raise NotFoundError(f"{what} {url}: the bucket {bucket!r} does not exist")
        fs.ls(bucket, detail=False)  # credentials and access, without writing anything


def is_folder(url: str) -> bool:
    """True when the URL ends in / or names an existing prefix."""
    if url.endswith("/"):
        return True
    fs, path = filesystem(url)
    with errors(url):
        fs.invalidate_cache()
        return fs.isdir(path)


def publish(local: Path, url: str) -> None:
    """Upload a finished file as one object: readers see the old object or the whole new one."""
    fs, path = filesystem(url)
    with errors(url, "--output"):
        fs.put_file(str(local), path)


def write_bytes(url: str, data: bytes) -> None:
    fs, path = filesystem(url)
    with errors(url, "--output"):
        fs.pipe_file(path, data)


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with errors(url):
        return fs.cat_file(path)


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    with errors(url):
        return fs.exists(path)


def remove(url: str) -> None:
    fs, path = filesystem(url)
    with errors(url):
        fs.rm_file(path)


def info(url: str) -> dict[str, Any] | None:
    """{"size", "version"} of an object, or None when there is none."""
    fs, path = filesystem(url)
    with errors(url):
        fs.invalidate_cache()
        try:
            found = fs.info(path)
        except FileNotFoundError:
            return None
    return {"size": int(found["size"]), "version": str(found.get("ETag") or found.get("etag") or "")}
