"""uvicorn's httptools protocol with each response leaving in one write, and, under concurrent
load, the writes of one event-loop pass leaving together at its end.

uvicorn writes the status line and headers when the app sends `http.response.start` and the
body on `http.response.body`: two `sendto` calls per response (and, without TCP_NODELAY, a
Nagle wait). Here the transport holds what a response writes and sends it joined.

When it sends is what matters most under load. A send on 127.0.0.1 runs the TCP stack of both
ends and wakes the client in the kernel; done between the requests of one loop pass, it evicts
what the interpreter, numpy and onnxruntime had in the CPU's caches, and the next request's
Python runs cold: on the issue's 2-core machine a pure-Python loop of 5.8 us cost 19 us of
server CPU per request. So while other requests are in flight (the pass has more work), a
finished response waits for the end of the pass, and every connection's answer leaves then,
one write each: 102-107 -> 67-69 us of server CPU per one-row request at 16 connections
(the same app over both protocols, 10-12 alternating rounds, server and wrk on a core each).
A lone request (one connection, or a quiet server) is written the moment it completes: there is
no pass to share, and waiting for its end would cost an extra loop turn.

Nothing waits longer than one pass: the first held write of a pass schedules its flush. An
interim "100 Continue" (the client waits for it before it sends the body) leaves with that
flush, never later; a close sends what is held first; a response past WRITE_THROUGH bytes
is written at once, so a large body keeps the transport's own flow control.
Every other rule of the protocol (parsing, keep-alive, pipelining, 100-continue, chunked
bodies) stays uvicorn's own, with two bounds it lacks. A request line and headers over
MAX_HEAD_BYTES get 431 and the connection closes: without it one client sending headers that
never end made a server hold 300 MB (77 -> 309 MB RSS for 300 MB sent) and answer nothing (nginx
allows 32 KB of headers by default, Go 1 MB). A head still incomplete HEAD_TIMEOUT seconds after
its first read gets 408 and the connection closes: a client trickling a byte now and then held
its connection (and its file descriptor) for ever, so a few hundred of them could use up the
server's (nginx's client_header_timeout is 60 s). The timer is armed only when a read ends inside
a head: a head that arrives in one read, as every normal client's does, costs no timer.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("mlops.serving")

WRITE_THROUGH = 64 * 1024  # bytes held for one connection before they are written regardless
MAX_HEAD_BYTES = 64 * 1024  # a request line and headers; at most one read more is taken in
HEAD_TIMEOUT = 30.0  # seconds a head may take to arrive whole once a read ended inside it


class PassFlush:
    """The transports of one event loop with bytes held in this pass: flushed at its end.

    One `call_soon` per pass, however many connections wrote: callbacks scheduled while the
    loop runs its ready callbacks run in its next pass, after it polled for I/O without waiting.
    """

    __slots__ = ("_loop", "_held")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # weak: the loop is this object's key in `_passes`
        self._held: list[CoalescingTransport] = []

    def add(self, transport: CoalescingTransport) -> None:
        if not self._held:
            loop = self._loop()
            if loop is None:  # pragma: no cover - a transport outliving its loop
                return
            loop.call_soon(self._flush)
        self._held.append(transport)

    def _flush(self) -> None:
        held, self._held = self._held, []
        for transport in held:
            try:
                transport.flush()
            except Exception:  # noqa: BLE001 - one broken connection must not hold back the others
                log.exception("writing a held response failed")
                transport.abort()


_passes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PassFlush] = weakref.WeakKeyDictionary()


def pass_flush(loop: asyncio.AbstractEventLoop) -> PassFlush:
    """The loop's PassFlush (one per loop: tests run servers on several loops in one process)."""
    found = _passes.get(loop)
    if found is None:
        found = _passes[loop] = PassFlush(loop)
    return found


class CoalescingTransport:
    """A transport whose writes are held until `flush()`, a close, or the end of the loop pass."""

    __slots__ = (
        "_transport", "_pass", "_chunks", "_size", "is_closing", "get_extra_info",
        "pause_reading", "resume_reading",
    )  # fmt: skip

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._pass = pass_flush(loop)
        self._chunks: list[bytes] = []
        self._size = 0
        # The calls uvicorn makes per request, bound once rather than looked up through
        # __getattr__ every time.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        if not self._chunks:
            self._pass.add(self)
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= WRITE_THROUGH:
            self.flush()

    def flush(self) -> None:
        chunks = self._chunks
        if not chunks:
            return
        self._chunks, self._size = [], 0
        if not self._transport.is_closing():  # the peer went away: nothing to send it
            self._transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._chunks, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # set_protocol, get_write_buffer_size, ...
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """HttpToolsProtocol over a CoalescingTransport: a completed response is written at once
    when it is the only request in flight, else with the others at the end of the pass; a head
    (request line and headers) over MAX_HEAD_BYTES is refused with 431, one not whole within
    HEAD_TIMEOUT with 408."""

    _reading_head = False
    _head_bytes = 0
    _head_began = False  # in the read being parsed: its bytes before the head are not the head's
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self._head_began = False
        super().data_received(data)
        if not self._reading_head:
            return
        if not self._head_began:  # the whole read was head
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head(
                    431, "Request Header Fields Too Large", f"are over {MAX_HEAD_BYTES // 1024} KiB"
                )
                return
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head, self._head_bytes, self._head_began = True, 0, True

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _head_done(self) -> None:
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse_head(408, "Request Timeout", f"did not arrive within {HEAD_TIMEOUT:g} s")

    def _refuse_head(self, status: int, reason: str, why: str) -> None:
        self._head_done()
        message = f"the request line and headers {why}".encode()
        self.logger.warning("refused a request whose head %s (%d)", why, status)
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n".encode()
            + f"content-length: {len(message)}\r\nconnection: close\r\n\r\n".encode()
            + message
        )
        self.transport.close()

    def on_response_complete(self) -> None:
        # The finishing request's own task is still in `tasks` (its done-callback runs later).
        if len(self.tasks) <= 1:
            self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
