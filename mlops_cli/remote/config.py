"""`mlops remote add/list/remove`: names for remote URLs, kept in the store (never credentials)."""

from __future__ import annotations

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import NAME_PATTERN
from mlops_cli.errors import UsageError
from mlops_cli.remote.urls import normalise_url
from mlops_cli.store import Store
from mlops_cli.store import remotes as sql
from mlops_cli.store.remotes import RemoteConfig


def add_remote(store: Store, name: str, url: str, *, default: bool = False) -> RemoteConfig:
    """Add remote NAME (or point it at a new URL); the first remote becomes the default.

    Nothing is contacted: the URL is checked for form only, the first push creates the remote.
    """
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UsageError(
            f"invalid remote name {name!r}", hint="use a-z 0-9 . _ - starting with a letter or digit"
        )
    return sql.add_remote(store.conn, name, normalise_url(url), default, provenance())


def list_remotes(store: Store) -> list[RemoteConfig]:
    return sql.list_remotes(store.conn)


def remove_remote(store: Store, name: str) -> RemoteConfig:
    """Forget remote NAME (what it holds stays there); NotFoundError when there is none."""
    return sql.remove_remote(store.conn, name, provenance())
