"""What every command module shares: opening the store for the duration of a command."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.cli.output import Output
    from mlops_cli.store import Store


@contextmanager
def store_for(explicit: Path | None) -> Iterator[Store]:
    """The store for a command: `--store`/MLOPS_STORE, or the nearest `.mlops/` upwards."""
    # Imported here, not at the top: command modules load for every `--help`, stores do not.
    from mlops_cli.events import routing
    from mlops_cli.store import open_store

    store = open_store(explicit)
    routing.install()  # this command's audit events reach the hooks of config.yaml
    routing.report_failures(store.conn)
    try:
        yield store
    finally:
        store.close()


class LazyModule:
    """A domain module imported on first use: `manage = LazyModule("mlops_cli.models.manage")`.

    Every command module is imported for every `mlops ... --help`; the domain modules behind
    them (store, registry, docker, serving) are needed only when a command runs. With this,
    a command module keeps writing `manage.show_version(...)` and `--help` stays fast
    (tests/cli/test_app.py checks what `--help` imports; benchmarks/bench_help.py times it).
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def report_leftovers(out: Output, store: Store) -> None:
    """Mention temp data that dead processes left (found when the store was opened), with its size.

    Always on stderr, also with --json: a kill -9 mid-write is something a script's log should show.
    """
    from mlops_cli.cli.output import human_size, plural

    found = store.leftovers
    if found is None:
        return
    what = f"{plural(found.files, 'stale temp file')} ({human_size(found.bytes)})"
    if found.removed:
        out.warn(f"removed {what} that an interrupted command left in {store.paths.tmp}")
    else:
        out.warn(f"{what} left by an interrupted command in {store.paths.tmp} could not be removed")


def fetch_from_remote(out: Output, store: Store, ref: str) -> None:
    """score-batch, serve and deploy: a version only the default remote holds is pulled first.

    Said in one stderr line (also with --json, whose stdout stays the command's result).
    """
    from mlops_cli.cli.output import human_size
    from mlops_cli.remote.fetch import fetch_if_missing

    fetched = fetch_if_missing(store, ref)
    if fetched is None:
        return
    local = ", ".join(v.ref for v in fetched.versions) or ref
    out.stderr.print(
        f"fetched {local} from remote {fetched.remote['name']!r} ({human_size(fetched.bytes_downloaded)})",
        markup=False,
    )
