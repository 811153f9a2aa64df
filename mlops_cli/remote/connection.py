"""An open remote: its configuration, its backend and its id (from `mlops-remote.json`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from mlops_cli.errors import RemoteError
from mlops_cli.remote import layout
from mlops_cli.remote.urls import is_folder
from mlops_cli.store import Store
from mlops_cli.store.remotes import RemoteConfig, get_remote

# Transfers run this many at a time: object stores are latency-bound, disks like a few streams.
PARALLEL = 8

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Remote:
    config: RemoteConfig
    backend: Any  # FolderBackend or ObjectStoreBackend: the same small interface
    id: str

    @property
    def name(self) -> str:
        return self.config.name

    def describe(self) -> dict[str, str]:
        return {"name": self.config.name, "url": self.config.url, "id": self.id}


def backend_for(url: str):
    if is_folder(url):
        from mlops_cli.remote.folder import FolderBackend

        return FolderBackend(url)
    from mlops_cli.remote.objectstore import ObjectStoreBackend

    return ObjectStoreBackend(url)


def open_remote(store: Store, name: str | None, *, create: bool) -> Remote:
    """The remote `name` (default: the default remote), reachable and marked as an mlops remote.

    With `create` (push) an empty location becomes a remote; without it (pull) RemoteError.
    """
    config = get_remote(store.conn, name)
    backend = backend_for(config.url)
    backend.check(create=create)
    data = backend.read_bytes(layout.MARKER)
    if data is None:
        if not create:
            raise RemoteError(
                f"remote {config.name!r} ({config.url}) holds no mlops remote yet",
                hint=f"push to it first: mlops push --all --remote {config.name}",
            )
        backend.create(layout.MARKER, layout.new_marker())  # the first of two racing pushes wins
        data = backend.read_bytes(layout.MARKER)
    return Remote(config, backend, layout.parse_marker(data, config.url))


def parallel(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`function` over `items`, PARALLEL at a time, results in order; the first error is raised."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(PARALLEL, len(items))) as pool:
        return list(pool.map(function, items))
