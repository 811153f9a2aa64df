"""What every command module shares: opening the store for the duration of a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.events import routing
from mlops_cli.store import Store, open_store


@contextmanager
def store_for(explicit: Path | None) -> Iterator[Store]:
    """The store for a command: `--store`/MLOPS_STORE, or the nearest `.mlops/` upwards."""
    store = open_store(explicit)
    routing.install()  # this command's audit events reach the hooks of config.yaml
    routing.report_failures(store.conn)
    try:
        yield store
    finally:
        store.close()
