"""One lane (a thread and a queue) per hook, so a slow or dead hook never holds back the others.

Deliveries of one hook are sent in order, one at a time, each with its own timeout and
retries; different hooks are sent concurrently. The threads only send: the deliverer's main
thread claims rows, hands each to its hook's lane and records the outcomes in the store, so
SQLite is used from one thread only.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mlops_cli.domain import AuditEvent, Delivery


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    result: object  # what `send` returned


class Lanes:
    """Threads keyed by hook; `submit` queues a delivery, `outcomes` collects finished ones."""

    def __init__(self, send: Callable[[Delivery, AuditEvent], object]) -> None:
        self._send = send
        self._queues: dict[str, queue.Queue] = {}
        self._done: queue.Queue[Outcome] = queue.Queue()
        self.in_flight = 0

    def submit(self, lane: str, delivery: Delivery, event: AuditEvent) -> None:
        if lane not in self._queues:
            self._queues[lane] = queue.Queue()
            threading.Thread(
                target=self._work, args=(self._queues[lane],), name=f"hook {lane}", daemon=True
            ).start()
        self.in_flight += 1
        self._queues[lane].put((delivery, event))

    def _work(self, inbox: queue.Queue) -> None:
        while True:
            item = inbox.get()
            if item is None:
                return
            delivery, event = item
            try:
                result = self._send(delivery, event)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread with its type
                result = exc
            self._done.put(Outcome(delivery, result))

    def outcomes(self, timeout: float) -> list[Outcome]:
        """What finished: waits up to `timeout` for the first one, then takes whatever else is done."""
        if not self.in_flight:
            return []
        try:
            found = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self._done.get_nowait())
            except queue.Empty:
                break
        self.in_flight -= len(found)
        return found

    def close(self) -> None:
        for inbox in self._queues.values():
            inbox.put(None)
