"""What every command module shares: opening the store for the duration of a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.cli.output import Output, human_size
from mlops_cli.store import Store, open_store


@contextmanager
def store_for(explicit: Path | None) -> Iterator[Store]:
    """The store for a command: `--store`/MLOPS_STORE, or the nearest `.mlops/` upwards."""
    store = open_store(explicit)
    try:
        yield store
    finally:
        store.close()


def report_leftovers(out: Output, store: Store) -> None:
    """Mention temp data that dead processes left (found when the store was opened), with its size.

    Always on stderr, also with --json: a kill -9 mid-write is something a script's log should show.
    """
    found = store.leftovers
    if found is None:
        return
    what = f"{found.files} stale temp {'file' if found.files == 1 else 'files'} ({human_size(found.bytes)})"
    if found.removed:
        out.warn(f"removed {what} that an interrupted command left in {store.paths.tmp}")
    else:
        out.warn(f"{what} left by an interrupted command in {store.paths.tmp} could not be removed")
