"""uvicorn's httptools protocol with each small response leaving in one write.

uvicorn writes the status line and headers when the app sends `http.response.start` and the
body on `http.response.body`: two `sendto` calls per response, which py-spy showed as the
largest single cost of a one-row prediction (and, without TCP_NODELAY, a Nagle wait). Here the
transport holds a header block back and sends it joined with whatever is written next. Nothing
is held past the end of a response: the held bytes leave with the body, before a close, or when
the response completes (a HEAD or 204 answer has no body write). Every other rule of the
protocol (parsing, keep-alive, pipelining, 100-continue, chunked bodies) stays uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A final status line: "HTTP/1.1 " then a status that is not 1xx (an interim "100 Continue"
# must reach the client at once: it is waiting for it before it sends the body).
_STATUS_PREFIX = b"HTTP/1.1 "
_HEADER_END = b"\r\n\r\n"


class HeldHeaderTransport:
    """A transport whose header writes wait for the next write, a close or `flush()`."""

    __slots__ = ("_transport", "_held", "is_closing", "get_extra_info", "pause_reading", "resume_reading")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        # The calls uvicorn makes per request, bound once rather than looked up through
        # __getattr__ every time.
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.endswith(_HEADER_END) and data.startswith(_STATUS_PREFIX) and data[9:10] != b"1":
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # set_protocol, get_write_buffer_size, ...
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """HttpToolsProtocol over a HeldHeaderTransport; flushes when a response completes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldHeaderTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
