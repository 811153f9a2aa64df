"""A reference that only the default remote holds, fetched for `score-batch`, `serve`, `deploy`."""

from __future__ import annotations

from mlops_cli.domain import ModelRef
from mlops_cli.errors import MlopsError, NotFoundError
from mlops_cli.remote.pull import PullResult, pull
from mlops_cli.store import Store, registry
from mlops_cli.store.remotes import default_remote


def fetch_if_missing(store: Store, ref: str) -> PullResult | None:
    """None when `ref` resolves here; else pull it from the default remote and return what came.

    Local first: nothing is contacted when the store holds the version. Raises the local
    NotFoundError when there is no default remote or the remote lacks the version too; any
    other failure of the remote keeps its exit code and says the reference is not here.
    """
    parsed = ModelRef.parse(ref)
    try:
        registry.get_version(store.conn, parsed)
        return None
    except NotFoundError as missing:
        remote = default_remote(store.conn)
        if remote is None or parsed.alias:
            raise
        try:
            return pull(store, [ref], remote_name=remote.name)
        except NotFoundError:
            raise NotFoundError(
                f"{missing.message}, here or on the default remote {remote.name!r}", hint=missing.hint
            ) from None
        except MlopsError as failed:
            # Keep the failure's class (its exit code) and say why a remote was asked at all:
            # "no usable credentials" alone reads odd for a reference that is simply not here.
            failed.message = (
                f"{ref} is not in this store and the default remote {remote.name!r} could not be"
                f" read: {failed.message}"
            )
            raise
