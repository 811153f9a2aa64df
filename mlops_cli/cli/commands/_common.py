"""What every command module shares: opening the store for the duration of a command."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
