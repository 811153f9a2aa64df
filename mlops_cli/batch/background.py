"""Writing finished parts on a second thread while the next chunk is scored (`--workers 1`).

Encoding a chunk's CSV or JSON Lines bytes and writing its part files is single-threaded work
(pyarrow's CSV writer, then file writes, all releasing the GIL); done inline it adds its time to
every chunk's, after onnxruntime's threads have finished. On this thread it overlaps the next
chunk's model run instead. At most one write waits, so memory grows by one chunk's output.

A part is still renamed into place only when complete, so "the part exists" still means "the
chunk is done": a run stopped while a write is pending re-scores that chunk when resumed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Write = Callable[[], None]


class BackgroundWriter:
    """Runs submitted writes in order on one thread; the first failure is raised to the caller."""

    def __init__(self) -> None:
        self._slot = threading.Semaphore(2)  # the write running and one waiting
        self._lock = threading.Lock()
        self._queue: list[Write | None] = []
        self._ready = threading.Condition(self._lock)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="mlops-part-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write) -> None:
        """Queue `write`; blocks while two are pending. Raises an earlier write's error."""
        self._raise_error()
        self._slot.acquire()
        with self._ready:
            self._queue.append(write)
            self._ready.notify()

    def close(self) -> None:
        """Wait for every queued write; raise the first failure."""
        with self._ready:
            self._queue.append(None)
            self._ready.notify()
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                write = self._queue.pop(0)
            if write is None:
                return
            try:
                if self._error is None:  # after a failure, drop the rest: the run is failing
                    write()
            except BaseException as exc:  # noqa: BLE001 - handed to the submitting thread
                self._error = exc
            finally:
                self._slot.release()


@contextmanager
def background_writes() -> Iterator[BackgroundWriter]:
    """A BackgroundWriter whose writes have all finished (or failed) when the block ends."""
    writer = BackgroundWriter()
    try:
        yield writer
    except BaseException:
        try:
            writer.close()
        except BaseException:  # noqa: BLE001 - the block's own exception is the one to raise
            pass
        raise
    writer.close()
