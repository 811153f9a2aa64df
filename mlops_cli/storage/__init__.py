"""Object storage (`s3://`, `gs://`, `az://`; `file://` is a local path) through fsspec: the one
layer score-batch, its engines and `push`/`pull` open URLs with. It picks the backend (an
optional extra), takes credentials and endpoints from the environment only, and turns the
backends' exceptions into MlopsErrors with the same exit codes everywhere (filesystems.py).
Importing it imports no backend: fsspec and s3fs load on first use.
"""

from mlops_cli.storage.filesystems import StorageError, backend_of, errors, filesystem
from mlops_cli.storage.objects import (
    READ_BLOCK,
    RemoteFile,
    check_writable,
    download,
    exists,
    info,
    is_folder,
    list_inputs,
    open_input,
    publish,
    read_bytes,
    remove,
    write_bytes,
)
from mlops_cli.storage.urls import BACKENDS, bucket_of, is_url, join, local_path, location, scheme_of, url_of

__all__ = [
    "BACKENDS",
    "READ_BLOCK",
    "RemoteFile",
    "StorageError",
    "backend_of",
    "bucket_of",
    "check_writable",
    "download",
    "errors",
    "exists",
    "filesystem",
    "info",
    "is_folder",
    "is_url",
    "join",
    "list_inputs",
    "local_path",
    "location",
    "open_input",
    "publish",
    "read_bytes",
    "remove",
    "scheme_of",
    "url_of",
    "write_bytes",
]
