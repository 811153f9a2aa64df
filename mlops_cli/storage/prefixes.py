"""Multi-object outputs under a prefix (a Kubernetes Job's shards, a Spark job's part files),
all-or-nothing through a `_SUCCESS` marker, the convention Spark and Hadoop readers know.

Object stores have no rename of a prefix, so: the old marker is removed before anything is
written (from then on readers know the prefix is being rewritten), the objects are uploaded,
objects of an earlier run that this one did not write are deleted, and `_SUCCESS` (a JSON
manifest naming every object, its size and ETag) is written last. The output is complete
exactly when `_SUCCESS` exists; a failed or interrupted run leaves none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_cli.errors import MlopsError
from mlops_cli.storage.filesystems import errors, filesystem
from mlops_cli.storage.objects import exists, info, publish, remove, write_bytes
from mlops_cli.storage.urls import join, url_of

SUCCESS = "_SUCCESS"


def start_rewrite(prefix: str) -> None:
    """Remove the prefix's `_SUCCESS`: what follows is not complete until a new one exists."""
    marker = join(prefix, SUCCESS)
    if exists(marker):
        remove(marker)


def publish_folder(local: Path, prefix: str) -> list[str]:
    """Upload every file of `local` (not hidden ones, not Spark's own `_` files) under `prefix`,
    each as one object, then delete the prefix's other objects; returns the URLs written."""
    files = [
        path for path in sorted(local.rglob("*")) if path.is_file() and not path.name.startswith((".", "_"))
    ]
    urls = []
    for path in files:
        url = join(prefix, path.relative_to(local).as_posix())
        publish(path, url)
        urls.append(url)
    _remove_others(prefix, set(urls))
    return urls


def _remove_others(prefix: str, keep: set[str]) -> None:
    fs, path = filesystem(prefix)
    with errors(prefix, "--output"):
        fs.invalidate_cache()
        stale = [name for name in fs.find(path) if url_of(prefix, name) not in keep]
        if stale:
            fs.rm(stale)


def finish(
    prefix: str, urls: list[str], facts: dict[str, Any], listing: str = "objects"
) -> list[dict[str, Any]]:
    """Check every object is there, then write `_SUCCESS` naming them under `listing` (with
    `facts`, such as the model and job): the output is done. Returns [{path, size, version}]."""
    objects = []
    for url in urls:
        found = info(url)
        if found is None:
            raise MlopsError(f"{url} is missing: the output is not complete", hint="run the job again")
        objects.append({"path": url, "size": found["size"], "version": found["version"]})
    manifest = {**facts, listing: objects}
    write_bytes(join(prefix, SUCCESS), json.dumps(manifest, indent=2).encode())
    return objects
