"""One fsspec filesystem per URL's backend and environment, and one mapping of its errors.

Credentials and endpoints come only from each backend's own environment and config files
(AWS_* and ~/.aws for s3fs, GOOGLE_APPLICATION_CREDENTIALS for gcsfs, AZURE_STORAGE_* for adlfs);
mlops stores none. Exit codes, the same for score-batch, push and pull:

- the bucket or object does not exist: NotFoundError, exit 1 (the service answered: it is not
  there, as for a missing local file; retrying will not help);
- credentials missing or refused, an endpoint that does not answer: StorageError, exit 4 (an
  external service failed; the hint names the variables to check);
- an unknown scheme: UsageError, exit 2; the backend not installed: MissingDependencyError, exit 1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlops_cli.errors import ExternalToolError, MissingDependencyError, MlopsError, NotFoundError, UsageError
from mlops_cli.storage.urls import BACKENDS, Backend, bucket_of, known_schemes, scheme_of

# Fail in seconds, not minutes, when an endpoint does not answer (botocore retries itself);
# AWS_MAX_ATTEMPTS, when set, wins over the attempts given here.
_CONNECT_TIMEOUT = 5
_ATTEMPTS = 2
_ENVIRONMENT = ("AWS_", "GOOGLE_", "AZURE_", "GCS", "HOME")
_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


class StorageError(ExternalToolError):
    """The object store refused or could not be reached (exit 4)."""


def backend_of(url: str) -> Backend:
    """The backend for `url`; UsageError for a scheme fsspec has no backend for here."""
    scheme = scheme_of(url)
    if scheme not in BACKENDS:
        raise UsageError(
            f"{url}: unknown storage scheme {scheme}://", hint=f"use a local path or {known_schemes()}"
        )
    return BACKENDS[scheme]


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for `url` and the path within it (bucket/key).

    One instance per backend and environment (a changed AWS_ENDPOINT_URL or credential gets a
    new one). Raises UsageError for an unknown scheme, MissingDependencyError when its backend
    is missing.
    """
    backend = backend_of(url)
    key = (backend.protocol, *sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENVIRONMENT)))
    with _LOCK:
        fs = _CACHE.get(key)
        if fs is None:
            fs = _CACHE[key] = _new_filesystem(backend)
    return fs, fs._strip_protocol(url)


def _new_filesystem(backend: Backend) -> Any:
    try:
        import fsspec

        cls = fsspec.get_filesystem_class(backend.protocol)
    except ImportError:
        raise MissingDependencyError(backend.module, backend.extra) from None
    options: dict[str, Any] = {"skip_instance_cache": True}
    if backend.protocol == "s3":
        retries = {} if os.environ.get("AWS_MAX_ATTEMPTS") else {"retries": {"max_attempts": _ATTEMPTS}}
        options["config_kwargs"] = {"connect_timeout": _CONNECT_TIMEOUT, **retries}
    fs = cls(**options)
    if hasattr(fs, "retries"):
        fs.retries = _ATTEMPTS  # s3fs's own retry loop, on top of botocore's
    return fs


@contextmanager
def errors(url: str, what: str = "") -> Iterator[None]:
    """Turn a backend's exceptions into one-line MlopsErrors naming `url` (see the module doc)."""
    label = f"{what} {url}".strip()
    backend = BACKENDS.get(scheme_of(url) or "")
    credentials = f"check the credentials ({backend.credentials})" if backend else "check the credentials"
    try:
        yield
    except MlopsError:
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"{label}: {_reason(exc, 'no such object')}", hint=_bucket_hint(url)) from exc
    except PermissionError as exc:
        raise StorageError(
            f"{label}: access denied: {_reason(exc, 'forbidden')}",
            hint=f"{credentials} and the bucket's permissions",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp/google/azure errors have no common base
        name = type(exc).__name__
        if "Credentials" in name or "credential" in str(exc).lower():
            raise StorageError(
                f"{label}: no usable credentials ({_reason(exc, name)})",
                hint=f"set the usual credentials: {credentials}",
            ) from exc
        if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _BACKEND_MODULES:
            raise StorageError(
                f"{label}: unreachable: {_reason(exc, name)}",
                hint="is the endpoint reachable? (AWS_ENDPOINT_URL for S3-compatible servers)",
            ) from exc
        raise


_BACKEND_MODULES = ("botocore", "aiobotocore", "aiohttp", "google", "azure", "s3fs", "gcsfs", "adlfs")


def _reason(exc: BaseException, default: str) -> str:
    text = str(exc.args[-1] if isinstance(exc, OSError) and exc.args else exc).strip()
    return text.splitlines()[0] if text else default


def _bucket_hint(url: str) -> str:
    return f"check that the bucket {bucket_of(url)!r} and the object exist"
