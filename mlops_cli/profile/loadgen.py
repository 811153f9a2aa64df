"""The HTTP load generator: N keep-alive connections, each sending the same request back to back.

Raw asyncio streams (uvloop when installed) with a pre-encoded request: no HTTP library sits
between the clock and the socket, so per request the client costs a few tens of microseconds
(`measure_ceiling` says how many requests per second it can drive at all on this machine). A
closed loop: each connection sends its next request when the previous answer arrived, so
`concurrency` is the number of requests in flight.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from mlops_cli.errors import MlopsError


@dataclass
class LoadResult:
    """What one load run saw: latencies (seconds) of answered requests, and the failures."""

    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)  # perf_counter() at each answer (recorded runs)
    began: float = 0.0
    ok: int = 0
    failed: int = 0
    elapsed: float = 0.0
    first_error: str | None = None

    @property
    def requests(self) -> int:
        return self.ok + self.failed

    def slice_rates(self, slices: int = 5) -> list[float]:
        """Answers per second in each of `slices` equal parts of the window (recorded runs)."""
        if not self.finished or self.elapsed <= 0:
            return []
        width = self.elapsed / slices
        counts = [0] * slices
        for moment in self.finished:
            counts[min(slices - 1, max(0, int((moment - self.began) / width)))] += 1
        return [count / width for count in counts]


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    marker = lower.find(b"content-length:")
    if marker < 0:
        raise ConnectionError("the server answered without a content-length")
    length = int(lower[marker + 15 :].split(b"\r\n", 1)[0])
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    payload: bytes,
    deadline: float,
    result: LoadResult,
    record: bool,
    interval: float | None = None,
    offset: float = 0.0,
) -> None:
    """One keep-alive connection. With `interval`, requests are paced (an open loop) and each
    latency counts from the request's scheduled time, so a server that falls behind is charged
    for the wait (no coordinated omission)."""
    clock = time.perf_counter
    writer = None
    scheduled = clock() + offset
    try:
        while clock() < deadline:
            if interval is not None:
                wait = scheduled - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                if scheduled >= deadline:
                    break
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = clock() if interval is None else scheduled
            if interval is not None:
                scheduled += interval
            try:
                writer.write(payload)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                result.failed += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
                writer.close()
                writer = None
                continue
            if status == 200:
                result.ok += 1
                if record:
                    now = clock()
                    result.latencies.append(now - started)
                    result.finished.append(now)
            else:
                result.failed += 1
                result.first_error = result.first_error or f"HTTP {status}"
    except OSError as exc:
        result.failed += 1
        result.first_error = result.first_error or f"cannot connect: {exc}"
    finally:
        if writer is not None:
            writer.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def run_load(
    host: str,
    port: int,
    payload: bytes,
    concurrency: int,
    duration: float,
    record: bool = True,
    rate: float | None = None,
) -> LoadResult:
    """Drive `concurrency` connections for `duration` seconds; returns what they saw.

    Without `rate` each connection sends as fast as answers come (a closed loop: the most the
    server does at that concurrency); with `rate` requests/s the connections share that pace.
    """
    result = LoadResult()
    interval = concurrency / rate if rate else None

    async def main() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(
            *(
                _connection(
                    host, port, payload, deadline, result, record, interval, i * (interval or 0) / concurrency
                )
                for i in range(concurrency)
            )
        )

    loop = _new_loop()
    started = result.began = time.perf_counter()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    # A paced run's window is its duration: the pace, not the last answer, decides when it ends.
    result.elapsed = duration if rate else time.perf_counter() - started
    return result


class EchoServer:
    """The trivial server (`echo_server`) in its own process, for the ceiling measurement."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlops_cli.profile.echo_server"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
        )
        line = self.process.stdout.readline() if self.process.stdout else b""
        if not line.strip().isdigit():
            self.close()
            raise MlopsError("the load generator's reference server did not start")
        self.port = int(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()


def measure_ceiling(concurrencies: list[int], duration: float, warmup: float) -> dict[int, float]:
    """Requests per second this client reaches against the trivial server, per concurrency."""
    server = EchoServer()
    try:
        payload = request_bytes("127.0.0.1", server.port, "/echo", b'{"inputs": []}')
        ceiling = {}
        for concurrency in concurrencies:
            run_load("127.0.0.1", server.port, payload, concurrency, warmup, record=False)
            done = run_load("127.0.0.1", server.port, payload, concurrency, duration, record=False)
            ceiling[concurrency] = round(done.ok / done.elapsed, 1) if done.elapsed else 0.0
        return ceiling
    finally:
        server.close()
