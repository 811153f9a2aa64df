"""Reading, listing and publishing objects: what score-batch, its engines and shards do with URLs.

Publishing: object stores have no rename, but a single object appears only when its upload
completes (S3's PUT and CompleteMultipartUpload, a GCS upload's final request, an Azure block
blob's commit): a reader sees the old object or the whole new one, never a part. So an output
is assembled locally and published as one object, last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlops_cli.errors import NotFoundError
from mlops_cli.storage.filesystems import errors, filesystem
from mlops_cli.storage.urls import bucket_of, url_of

READ_BLOCK = 32 << 20


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int
    version: str  # the ETag / generation: what changes when the object does


def _version(found: dict[str, Any]) -> str:
    return str(found.get("ETag") or found.get("etag") or found.get("generation") or "")


def list_inputs(pattern: str, suffixes: tuple[str, ...]) -> list[RemoteFile]:
    """Objects named by a URL: one object, a prefix ("folder") of them, or a glob; sorted by key."""
    fs, path = filesystem(pattern)
    with errors(pattern, "input"):
        fs.invalidate_cache()  # listings cached by an earlier call in this process may be stale
        if any(c in path for c in "*?["):
            infos = [fs.info(p) for p in fs.glob(path)]
        else:
            found = fs.info(path)
            if found["type"] == "directory":
                infos = [i for i in fs.ls(path, detail=True) if i["type"] == "file"]
                infos = [i for i in infos if i["name"].lower().endswith(suffixes)]
                if not infos:
                    raise NotFoundError(f"{pattern} holds no .csv, .parquet or .jsonl objects")
            else:
                infos = [found]
    files = [
        RemoteFile(url_of(pattern, i["name"]), int(i["size"]), _version(i))
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
    fs, _ = filesystem(url)
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
    return {"size": int(found["size"]), "version": _version(found)}
