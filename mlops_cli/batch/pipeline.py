"""Chunks on their way to scoring: a reader thread ahead of the scorer, and the process pool.

Reading (pyarrow, which releases the GIL) overlaps scoring; with workers, at most two chunks per
worker are in flight, so memory stays bounded while every core is busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from mlops_cli.batch.readers import Chunk
from mlops_cli.batch.worker import WorkerSpec, init_worker, score_in_worker

_END = object()


def shard_todo(
    chunks: Iterator[Chunk], index: int, count: int, done: set[int], mine: list[int], advance: Any
) -> Iterator[Chunk]:
    """This shard's chunks that still need scoring; notes every chunk of the shard in `mine`."""
    for chunk in chunks:
        if chunk.index % count != index:
            continue
        mine.append(chunk.index)
        if chunk.index in done:
            advance(chunk.rows)
            continue
        yield chunk


def run_pool(spec: WorkerSpec, workers: int, todo: Iterator[Chunk], advance: Any) -> Chunk | None:
    """Score chunks in worker processes, at most two per worker in flight, so memory stays bounded."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    first: Chunk | None = None
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=init_worker, initargs=(spec,))
    pending: set[Any] = set()
    try:
        for chunk in todo:
            first = first or chunk
            while len(pending) >= 2 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    advance(future.result().rows)
            pending.add(pool.submit(score_in_worker, chunk.index, chunk.file_index, chunk.start, chunk.batch))
        for future in pending:
            advance(future.result().rows)
    except BaseException:
        if spec.script is not None:  # an init() or run() in hand may take minutes: stop it now
            _kill_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return first


def warm_workers() -> None:
    """Start the fork server now: it imports the libraries in its own process while this one
    still resolves the model and lists and checks the inputs (an S3 client takes about 0.5 s
    to import), so the workers fork from it at once when scoring starts."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _context() -> Any:
    """Not fork: this process already runs reader and hashing threads. The fork server imports
    the libraries once and forks each worker from that, instead of N fresh interpreters."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mlops_cli.batch.worker", "numpy", "pyarrow", "onnxruntime"])
    return context


def _kill_workers(pool: Any) -> None:
    """Kill the pool's processes (each one's script process dies with it). A part is renamed
    into place whole, so a killed worker leaves at most a temp file, which a resume sweeps."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def prefetch(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Read the next chunks in a thread while this one is scored (pyarrow releases the GIL)."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        buffer.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="mlops-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
