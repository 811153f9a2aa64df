"""Adaptive micro-batching: requests that arrive while the model is busy share the next call.

One dispatcher task takes the first waiting request, adds whatever else is already waiting (up
to `max_size` rows), runs the model once in a worker thread, and splits the outputs back by
row counts. When the server is idle a request runs at once, so batching adds no latency under
light load; under load the batch grows with the queue. When the previous call was a real batch
(load is high), the dispatcher waits up to `max_latency` after the first request for more to
arrive. Requests whose tensors cannot be stacked together (different trailing shapes) run in
separate calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np


class _Job:
    __slots__ = ("feeds", "rows", "future", "key", "arrived")

    def __init__(self, feeds: dict[str, np.ndarray], future: asyncio.Future) -> None:
        self.feeds = feeds
        self.rows = len(next(iter(feeds.values())))
        self.future = future
        self.key = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(feeds.items()))
        self.arrived = time.monotonic()


class MicroBatcher:
    """`await submit(feeds)` returns the model's outputs for those rows alone."""

    def __init__(
        self,
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        metrics: Any,
        max_size: int,
        max_latency: float,
    ) -> None:
        self.run = run
        self.metrics = metrics
        self.max_size = max(1, max_size)
        self.max_latency = max(0.0, max_latency)
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._loaded = False  # the last call carried more than one request

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def stop(self) -> None:
        """Finish what is queued, then stop the dispatcher."""
        while not self.queue.empty():
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if any(a.ndim == 0 for a in feeds.values()) or len({len(a) for a in feeds.values()}) != 1:
            return self.run(feeds)  # no batch axis to stack along
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(feeds, future))
        return await future

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            batch, rows = [first], first.rows
            deferred: list[_Job] = []
            deadline = first.arrived + self.max_latency
            while rows < self.max_size:
                try:
                    job = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if not self._loaded or remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self.queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if job.key != first.key or rows + job.rows > self.max_size:
                    deferred.append(job)
                    if rows + job.rows > self.max_size:
                        break
                    continue
                batch.append(job)
                rows += job.rows
            for job in deferred:  # run next, in arrival order among themselves
                self.queue.put_nowait(job)
            self._loaded = len(batch) > 1
            await self._call(loop, batch, rows)

    async def _call(self, loop: asyncio.AbstractEventLoop, batch: list[_Job], rows: int) -> None:
        if len(batch) == 1:
            feeds = batch[0].feeds
        else:
            feeds = {name: np.concatenate([j.feeds[name] for j in batch]) for name in batch[0].feeds}
        try:
            outputs = await loop.run_in_executor(None, self.run, feeds)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request, re-raised there
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.metrics.batch_sizes.observe("", rows)
        start = 0
        for job in batch:
            end = start + job.rows
            part = {
                name: (value[start:end] if _splittable(value, rows) else value)
                for name, value in outputs.items()
            }
            if not job.future.done():
                job.future.set_result(part)
            start = end


def _splittable(value: Any, rows: int) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0 and len(value) == rows
