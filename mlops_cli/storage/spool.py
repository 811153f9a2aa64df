"""An object read through a local spool: one streaming GET, written to disk by a thread while the
reader reads what has arrived.

Why: a reader that seeks (pyarrow's Parquet reader) turns into many ranged GETs, and some
S3-compatible servers copy the whole object for every one (moto does). Here the object's body
is fetched once, from its first byte to its last, into a temporary file; a `read` or `seek` that
wants bytes not yet arrived waits for them. Parquet reads its footer first: the last TAIL bytes
come from one small ranged GET, held in memory, so a footer-only read (the schema) never starts
the body; an object no larger than TAIL is read whole by that one GET, one up to NEAR_END by
at most two. A reader that only peeks (a CSV header, a first JSON line: `peek=True`) reads the
first HEAD bytes by one ranged GET too, so a header check never starts, and cuts, the body's
stream; a first line longer than HEAD starts it.

The spool is created owner-only (0600 in a 0700 folder) and unlinked at once, before any byte is
written: it has no name while in use, so no interrupt, error or kill can leave it behind; its
disk space returns when the reader closes (and the writer thread, told to stop, lets go).
Memory stays at one chunk in flight and the tail; disk holds the object's size.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mlops_cli.errors import MlopsError

CHUNK = 1 << 20  # what the writer thread hands over at a time
TAIL = 1 << 20  # the footer read, one ranged GET; Parquet reads its last 64 KB first
# Before the body's stream started, a read this close to the end fetches from there to the end in
# one ranged GET, held in memory: a Parquet footer wider than TAIL, or a small object whole.
NEAR_END = 16 << 20
HEAD = 64 << 10  # what a peek fetches from the start by one ranged GET: a header, a first line


class SpooledObject(io.RawIOBase):
    """A seekable binary file over an object of `size` bytes.

    `fetch_range(start, end)` returns those bytes (one ranged request); `stream()` yields the
    object's bytes in order from the first (one streaming request), closing its request when
    closed. Both raise the backend's exceptions; `guard()` is a context manager that turns them
    into MlopsErrors (storage.errors), used around every wait, so they reach the reader mapped.
    `peek`: the reader wants the first line or so, not the body (see the module's docstring).
    """

    def __init__(
        self,
        name: str,
        size: int,
        fetch_range: Callable[[int, int], bytes],
        stream: Callable[[], Iterator[bytes]],
        guard: Callable[[], Any],
        peek: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.size = size
        self._fetch_range = fetch_range
        self._stream = stream
        self._guard = guard
        self._position = 0
        self._tail_start = max(0, size - TAIL)
        self._tail: bytes | None = None
        self._head: bytes | None = None
        self._peek = peek
        self._fd = -1
        self._users = 0  # the reader and, while it runs, the writer: the last one closes the fd
        self._written = 0
        self._error: BaseException | None = None
        self._stop = False
        self._writer: threading.Thread | None = None
        self._writer_done = False
        self._lock = threading.Condition()

    # -- the file interface -------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek of a closed file")
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(22, f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        start = min(self._position, self.size)
        end = self.size if size is None or size < 0 else min(start + size, self.size)
        data = self._bytes(start, end)
        self._position = start + len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        taken = 0
        while size < 0 or taken < size:
            want = 64 << 10 if size < 0 else min(64 << 10, size - taken)
            start = self._position
            block = self.read(want)
            if not block:
                break
            cut = block.find(b"\n")
            if cut >= 0:
                block = block[: cut + 1]
                self._position = start + len(block)
            parts.append(block)
            taken += len(block)
            if cut >= 0:
                break
        return b"".join(parts)

    def close(self) -> None:
        if self.closed:
            return
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        self._release()
        self._tail = self._head = None
        super().close()

    # -- where the bytes come from ------------------------------------------------------------
    def _bytes(self, start: int, end: int) -> bytes:
        if start >= end:
            return b""
        if start >= self._tail_start and end > self._written:
            if self._tail is None:
                with self._guard():
                    self._tail = self._fetch_range(self._tail_start, self.size)
            return self._tail[start - self._tail_start : end - self._tail_start]
        if self._writer is None and self.size - start <= NEAR_END:
            with self._guard():
                self._tail = self._fetch_range(start, self.size)
            self._tail_start = start
            return self._tail[: end - start]
        if self._peek and self._writer is None and end <= HEAD:
            if self._head is None:
                with self._guard():
                    self._head = self._fetch_range(0, HEAD)
            return self._head[start:end]
        self._wait_for(end)
        data = os.pread(self._fd, end - start, start)
        if len(data) != end - start:
            raise OSError(5, f"{self.name}: the local spool returned {len(data)} of {end - start} bytes")
        return data

    def _wait_for(self, end: int) -> None:
        if self._writer is None:
            self._start()
        with self._lock:
            while self._written < end and self._error is None and self._writer_running:
                self._lock.wait()
            error, written, stopped = self._error, self._written, self._stop
        if written >= end:
            return
        if stopped:
            raise ValueError("read of a closed file")  # closed by another thread meanwhile
        if error is not None:
            with self._guard():
                raise error
        raise OSError(5, f"{self.name}: the object ended after {written} of {self.size} bytes")

    @property
    def _writer_running(self) -> bool:
        return self._writer is not None and not self._writer_done

    def _start(self) -> None:
        folder = tempfile.mkdtemp(prefix="mlops-spool-")  # 0700
        path = os.path.join(folder, "object")
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        finally:
            if self._fd >= 0:
                os.unlink(path)
            os.rmdir(folder)
        self._users = 2
        self._writer = threading.Thread(target=self._write, name="mlops-spool", daemon=True)
        self._writer.start()

    def _write(self) -> None:
        chunks = None
        try:
            chunks = self._stream()
            for chunk in chunks:
                with self._lock:
                    if self._stop:
                        return
                offset = self._written
                view = memoryview(chunk)
                try:
                    while view:
                        done = os.pwrite(self._fd, view, offset)
                        view = view[done:]
                        offset += done
                except OSError as exc:  # local: a full disk is not the object store's failure
                    folder = tempfile.gettempdir()
                    raise MlopsError(
                        f"cannot spool {self.name} to the temp folder {folder}: {exc.strerror}",
                        hint="free some space there, or point TMPDIR at a folder with room for the object",
                    ) from exc
                with self._lock:
                    self._written = offset
                    self._lock.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            with self._lock:
                self._error = exc
        finally:
            try:
                if chunks is not None and hasattr(chunks, "close"):
                    chunks.close()  # ends the request early when the reader stopped
            except Exception:  # noqa: BLE001, S110 - the request is being abandoned anyway
                pass
            with self._lock:
                self._writer_done = True
                self._lock.notify_all()
            self._release()

    def _release(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            fd, self._fd = self._fd, -1
        os.close(fd)
