"""Remote URLs: a folder path, or object storage (the schemes of mlops_cli/storage/)."""

from __future__ import annotations

from pathlib import Path

from mlops_cli.errors import UsageError
from mlops_cli.storage.urls import BACKENDS, known_schemes


def normalise_url(text: str) -> str:
    """The URL as stored: an absolute folder path, or `SCHEME://BUCKET[/PREFIX]` without a
    trailing slash. UsageError for anything else (no credentials in URLs: they would be stored)."""
    text = (text or "").strip()
    if not text:
        raise UsageError("the remote URL is empty", hint="give a folder path or s3://BUCKET/PREFIX")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return str(Path(text).expanduser().absolute())
    scheme = scheme.lower()
    if scheme == "file":
        return str(Path(rest).expanduser().absolute())
    if scheme not in BACKENDS:
        raise UsageError(
            f"unsupported remote URL {text!r}", hint=f"use a folder path or one of {known_schemes()}"
        )
    bucket = rest.strip("/").split("/", 1)[0]
    if not bucket or "@" in bucket or "?" in rest:
        raise UsageError(
            f"remote URL {text!r} has no usable bucket",
            hint=f"use {scheme}://BUCKET[/PREFIX]; credentials come from the environment, never the URL",
        )
    return f"{scheme}://{rest.strip('/')}"


def is_folder(url: str) -> bool:
    return "://" not in url
