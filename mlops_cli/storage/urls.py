"""Object-storage URLs: which schemes exist, which fsspec backend and extra each needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backend:
    protocol: str  # fsspec's name for it
    module: str  # the Python package that implements it
    extra: str  # the mlops-cli extra that installs it
    credentials: str  # where the backend looks for credentials (mlops stores none)


_S3 = Backend(
    "s3", "s3fs", "s3", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials"
)
_GCS = Backend(
    "gcs", "gcsfs", "gcs", "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`"
)
_AZ = Backend(
    "az",
    "adlfs",
    "azure",
    "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a key or `az login`",
)
BACKENDS: dict[str, Backend] = {"s3": _S3, "s3a": _S3, "gs": _GCS, "gcs": _GCS, "az": _AZ, "abfs": _AZ}
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


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


def bucket_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def join(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name


def url_of(url: str, path: str) -> str:
    """A path the filesystem returned (bucket/key) as a URL with the scheme `url` has."""
    return f"{scheme_of(url)}://{path}"


def known_schemes() -> str:
    return ", ".join(f"{s}://" for s in BACKENDS)
