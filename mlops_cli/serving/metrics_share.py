"""One /metrics for a server of several worker processes.

uvicorn's workers share one socket, so a scrape reaches any one of them. If each answered with
its own counters only, every counter would jump up and down from scrape to scrape; Prometheus
reads a fall as a restart, so `rate()` would report traffic that never happened. Instead each
worker writes its figures to a file of its own, in an owner-only folder the parent process made,
every second and when it stops. The worker a scrape reaches answers with its own live figures
plus every other worker's last file. A worker that died (uvicorn starts another) keeps its file,
so totals never fall while the server runs; the parent removes the folder when it stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from pathlib import Path

from mlops_cli.serving.metrics import Metrics

log = logging.getLogger("mlops.serving")

WRITE_EVERY = 1.0  # seconds: how stale another worker's figures can be in a scrape


class SharedMetrics:
    """This worker's file in the shared folder, and the others' files."""

    def __init__(self, folder: str, metrics: Metrics) -> None:
        self.folder = Path(folder)
        self.metrics = metrics
        # Not the pid alone: the workers of a docker deployment are containers, each with its own
        # pid numbers, so two would write one file and each see only itself.
        self.own = self.folder / f"{os.getpid()}-{secrets.token_hex(6)}.json"
        self._task: asyncio.Task | None = None
        self._failing = False  # warned once, until a write succeeds again

    def start(self) -> None:
        self.folder.mkdir(mode=0o700, exist_ok=True)  # a deployment's workers: the first makes it
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._every_second())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.write()

    def render(self) -> bytes:
        return self.metrics.render(self.others())

    def write(self) -> None:
        """This worker's figures, replaced whole (a reader never sees half a file)."""
        try:
            try:
                self._replace()
            except FileNotFoundError:  # a temp-folder cleaner removed the folder: make it again
                self.folder.mkdir(mode=0o700, exist_ok=True)
                self._replace()
        except OSError as exc:  # a full disk must not stop the serving; the scrape is a bit stale
            if not self._failing:
                log.warning("could not share this worker's metrics (retried every second): %s", exc)
            self._failing = True
        else:
            self._failing = False

    def _replace(self) -> None:
        temporary = self.own.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.metrics.snapshot(), out)
        os.replace(temporary, self.own)

    def others(self) -> list[dict]:
        snapshots = []
        for path in self.folder.glob("*.json"):
            if path == self.own:
                continue
            try:
                snapshots.append(json.loads(path.read_bytes()))
            except (OSError, ValueError):  # removed at the parent's stop, or never written whole
                continue
        return snapshots

    async def _every_second(self) -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY)
            self.write()
