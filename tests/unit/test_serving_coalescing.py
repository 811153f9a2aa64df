"""The coalescing transport under `mlops serve`'s protocol, on real event loops (asyncio's and
uvloop's) and real connected sockets: what a pass writes leaves at its end, joined, one write per
connection; a large body, a close and an abort keep their meaning."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mlops_cli.serving.protocol import WRITE_THROUGH, CoalescingTransport

LOOPS = ["asyncio", "uvloop"]


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class Recorder:
    """A real transport, with the writes it is given recorded."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


async def _connection(loop: asyncio.AbstractEventLoop) -> tuple[Recorder, socket.socket]:
    """(the server end's recorded transport, the client's blocking socket)."""
    server_end, client_end = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server_end)
    client_end.settimeout(5)
    return Recorder(transport), client_end


async def _coalescing(loop: asyncio.AbstractEventLoop) -> tuple[CoalescingTransport, Recorder, socket.socket]:
    """(a coalescing transport over a recorded real one, that recorder, the client's socket)."""
    recorded, peer = await _connection(loop)
    return CoalescingTransport(recorded, loop), recorded, peer  # type: ignore[arg-type]


async def _pass_ends() -> None:
    """Let the loop finish this pass and run the next, where the pass's flush was scheduled."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _run(kind: str, test) -> None:
    loop = _new_loop(kind)
    try:
        loop.run_until_complete(test(loop))
    finally:
        loop.close()


@pytest.mark.parametrize("kind", LOOPS)
def test_a_pass_writes_each_connection_once_at_its_end(kind):
    async def test(loop):
        (first, a), (second, b) = await _connection(loop), await _connection(loop)
        one, two = CoalescingTransport(first, loop), CoalescingTransport(second, loop)  # type: ignore[arg-type]
        one.write(b"HTTP/1.1 200 OK\r\n\r\n")
        two.write(b"HTTP/1.1 404 Not Found\r\n\r\n")
        one.write(b"body")
        assert first.writes == [] and second.writes == []  # held until the pass ends
        await _pass_ends()
        assert first.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        assert second.writes == [b"HTTP/1.1 404 Not Found\r\n\r\n"]
        assert a.recv(100) == b"HTTP/1.1 200 OK\r\n\r\nbody"
        assert b.recv(100) == b"HTTP/1.1 404 Not Found\r\n\r\n"
        for end in (a, b):
            end.close()
        for end in (first, second):
            end.close()

    _run(kind, test)


@pytest.mark.parametrize("kind", LOOPS)
def test_flush_writes_now_and_once(kind):
    async def test(loop):
        transport, recorded, peer = await _coalescing(loop)
        transport.write(b"head ")
        transport.write(b"body")
        transport.flush()
        assert recorded.writes == [b"head body"]
        await _pass_ends()  # the pass's own flush finds nothing left
        assert recorded.writes == [b"head body"]
        assert peer.recv(100) == b"head body"
        peer.close()
        transport.close()

    _run(kind, test)


@pytest.mark.parametrize("kind", LOOPS)
def test_a_large_body_is_written_at_once(kind):
    async def test(loop):
        transport, recorded, peer = await _coalescing(loop)
        transport.write(b"h")
        transport.write(b"x" * WRITE_THROUGH)
        assert recorded.writes == [b"h" + b"x" * WRITE_THROUGH]  # not held for the pass
        peer.close()
        transport.close()

    _run(kind, test)


@pytest.mark.parametrize("kind", LOOPS)
def test_close_sends_what_is_held_then_closes_and_abort_drops_it(kind):
    async def test(loop):
        transport, recorded, peer = await _coalescing(loop)
        transport.write(b"last answer")
        transport.close()
        await asyncio.sleep(0.05)
        received = b""
        while chunk := peer.recv(100):
            received += chunk
        assert received == b"last answer"  # then end of stream
        peer.close()

        transport, recorded, peer = await _coalescing(loop)
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0.05)
        assert recorded.writes == []
        assert peer.recv(100) == b""
        peer.close()

    _run(kind, test)


@pytest.mark.parametrize("kind", LOOPS)
def test_bytes_held_for_a_peer_that_went_away_are_dropped_quietly(kind):
    async def test(loop):
        transport, recorded, peer = await _coalescing(loop)
        transport.write(b"for nobody")
        recorded.transport.close()  # the connection is gone before the pass ends
        peer.close()
        await _pass_ends()
        assert recorded.writes == []

    _run(kind, test)


class Broken(Recorder):
    """A real transport whose write fails, as a transport in a bad state could."""

    def write(self, data: bytes) -> None:
        raise RuntimeError("the transport is broken")


@pytest.mark.parametrize("kind", LOOPS)
def test_a_failing_write_does_not_hold_back_the_other_connections(kind, caplog):
    async def test(loop):
        (first, a), (second, b) = await _connection(loop), await _connection(loop)
        broken = Broken(first.transport)
        one, two = CoalescingTransport(broken, loop), CoalescingTransport(second, loop)  # type: ignore[arg-type]
        one.write(b"lost")
        two.write(b"delivered")
        await _pass_ends()
        assert second.writes == [b"delivered"] and b.recv(100) == b"delivered"
        assert first.transport.is_closing()  # the broken connection was aborted
        assert a.recv(100) == b""
        for end in (a, b):
            end.close()
        second.close()

    _run(kind, test)
    assert "writing a held response failed" in caplog.text
