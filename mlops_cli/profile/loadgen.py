"""The one HTTP load generator: the profiler's, the benchmarks' and the tests'.

Raw asyncio streams (uvloop when installed) with a pre-encoded request: no HTTP library sits
between the clock and the socket, so per request the client costs a few tens of microseconds
(`measure_ceiling` says how many requests per second it can drive at all on this machine).

- Closed loop (no `rate`): each connection sends its next request when the previous answer
  arrived, so `concurrency` is the number of requests in flight.
- Open loop (`rate`): the connections share that pace and each latency counts from the
  request's scheduled time, so a server that falls behind is charged for the wait.
- `mode`: every connection kept alive, every request on a new connection (`Connection: close`),
  or half and half ("both"), as a deployment's clients are during a switch.
- `label`: reads each 200's body (the served version, say); a body it refuses is a failure,
  so a 200 that is not the expected answer is never counted as a success.
- Runs for `duration`, until `stop` is set (a thread or a signal handler), and in any case
  until `min_requests` were sent. Every failure is counted, the first reasons are kept.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mlops_cli.errors import MlopsError

MODES = ("keep-alive", "fresh", "both")
MAX_REASONS = 100  # failure reasons kept per run (every failure is counted)
CONNECT_BACKOFF_S = 0.01  # a closed loop against a refused port must not spin


class BadAnswerError(ValueError):
    """A 200 whose body is not the answer the load's `label` expects."""


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
    reasons: list[str] = field(default_factory=list)  # the first MAX_REASONS, each with its moment
    labels: dict[str, int] = field(default_factory=dict)  # answers per label (e.g. served version)

    @property
    def requests(self) -> int:
        return self.ok + self.failed

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.first_error = self.first_error or reason
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(f"{reason} (at {time.perf_counter() - self.began:.2f} s)")

    def slice_rates(self, slices: int = 5) -> list[float]:
        """Answers per second in each of `slices` equal parts of the window (recorded runs)."""
        if not self.finished or self.elapsed <= 0:
            return []
        width = self.elapsed / slices
        counts = [0] * slices
        for moment in self.finished:
            counts[min(slices - 1, max(0, int((moment - self.began) / width)))] += 1
        return [count / width for count in counts]


def request_bytes(host: str, port: int, path: str, body: bytes, keep_alive: bool = True) -> bytes:
    close = "" if keep_alive else "connection: close\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{close}\r\n"
    )
    return head.encode() + body


def served_version(body: bytes) -> str:
    """The `model_version` of a v2 inference answer; BadAnswerError for any other body."""
    import json

    try:
        answer = json.loads(body)
        version, outputs = answer["model_version"], answer["outputs"]
    except (ValueError, KeyError, TypeError):
        raise BadAnswerError(f"200 with a body that is not the inference JSON: {body[:100]!r}") from None
    if not isinstance(version, str) or not isinstance(outputs, list) or not outputs:
        raise BadAnswerError(f"200 with an unexpected inference answer: {body[:100]!r}")
    return version


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    marker = lower.find(b"content-length:")
    if marker < 0:
        raise ConnectionError("the server answered without a content-length")
    length = int(lower[marker + 15 :].split(b"\r\n", 1)[0])
    body = await reader.readexactly(length) if length else b""
    if head.startswith(b"HTTP/1.0"):  # closed after each answer unless it says otherwise
        return status, body, b"connection: keep-alive" not in lower
    return status, body, b"connection: close" in lower


@dataclass
class _Plan:
    """What every connection of one run shares."""

    host: str
    port: int
    payloads: tuple[bytes, bytes]  # (keep-alive, new connection per request)
    deadline: float | None
    stop: threading.Event | None
    min_requests: int
    record: bool
    interval: float | None
    label: Callable[[bytes], str] | None
    timeout: float | None

    extended: bool = False  # the run went on past its window to reach min_requests

    def running(self, result: LoadResult, now: float) -> bool:
        stopped = self.stop is not None and self.stop.is_set()
        if not stopped and (self.deadline is None or now < self.deadline):
            return True
        if result.requests < self.min_requests:
            self.extended = True
            return True
        return False


async def _connection(plan: _Plan, result: LoadResult, keep_alive: bool, offset: float) -> None:
    """One client: a kept-alive connection, or a new one per request."""
    clock = time.perf_counter
    payload = plan.payloads[0 if keep_alive else 1]
    reader = writer = None
    scheduled = clock() + offset
    try:
        while plan.running(result, clock()):
            if plan.interval is not None:
                wait = scheduled - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not plan.running(result, scheduled):
                    break
            started = clock() if plan.interval is None else scheduled
            if plan.interval is not None:
                scheduled += plan.interval
            try:
                if writer is None:
                    try:
                        reader, writer = await asyncio.open_connection(plan.host, plan.port)
                    except OSError as exc:
                        result.fail(f"cannot connect: {exc}")
                        if plan.interval is None:
                            await asyncio.sleep(CONNECT_BACKOFF_S)
                        continue
                    if plan.interval is None and keep_alive:
                        started = clock()  # a kept-alive connection's latency is the exchange's
                writer.write(payload)
                exchange = _read_response(reader)
                status, body, closing = await (
                    exchange if plan.timeout is None else asyncio.wait_for(exchange, plan.timeout)
                )
                if status != 200:
                    raise BadAnswerError(f"HTTP {status} {body[:100]!r}")
                if plan.label is not None:
                    name = plan.label(body)
                    result.labels[name] = result.labels.get(name, 0) + 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                where = "" if keep_alive else " (new connection)"
                result.fail(f"{type(exc).__name__}: {exc}"[:200] + where)
                if writer is not None:
                    writer.close()
                    writer = None
                continue
            result.ok += 1
            if plan.record:
                now = clock()
                result.latencies.append(now - started)
                result.finished.append(now)
            if closing or not keep_alive:
                writer.close()
                writer = None
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
    duration: float | None,
    record: bool = True,
    rate: float | None = None,
    *,
    mode: str = "keep-alive",
    label: Callable[[bytes], str] | None = None,
    stop: threading.Event | None = None,
    min_requests: int = 0,
    timeout: float | None = None,
    fresh_payload: bytes | None = None,
) -> LoadResult:
    """Drive `concurrency` connections for `duration` seconds (None: until `stop` is set);
    returns what they saw.

    Without `rate` each connection sends as fast as answers come (a closed loop: the most the
    server does at that concurrency); with `rate` requests/s the connections share that pace.
    `payload` is the keep-alive request; `fresh_payload` (default: `payload` with a
    `Connection: close` header added) the one sent on a new connection per request.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if duration is None and stop is None:
        raise ValueError("a load without a duration needs a stop event")
    result = LoadResult()
    interval = concurrency / rate if rate else None
    fresh = fresh_payload or payload.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
    keep = {"keep-alive": lambda i: True, "fresh": lambda i: False, "both": lambda i: i % 2 == 0}[mode]

    plans: list[_Plan] = []

    async def main() -> None:
        deadline = None if duration is None else time.perf_counter() + duration
        plan = _Plan(
            host, port, (payload, fresh), deadline, stop, min_requests, record, interval, label, timeout
        )
        plans.append(plan)
        offsets = [i * (interval or 0) / concurrency for i in range(concurrency)]
        await asyncio.gather(*(_connection(plan, result, keep(i), offsets[i]) for i in range(concurrency)))

    loop = _new_loop()
    started = result.began = time.perf_counter()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    # A paced run's window is its duration: the pace, not the last answer, decides when it ends.
    measured = time.perf_counter() - started
    result.elapsed = duration if rate and duration and not plans[0].extended else measured
    return result


class BackgroundLoad:
    """`run_load` in a thread of this process until `stop()`: load that runs while a test (or a
    benchmark) switches, kills or restarts the server behind it."""

    def __init__(
        self, host: str, port: int, payload: bytes, concurrency: int, rate: float, **options: object
    ) -> None:
        self._stop = threading.Event()
        self.result: LoadResult | None = None

        def work() -> None:
            self.result = run_load(
                host, port, payload, concurrency, None, False, rate, stop=self._stop, **options
            )

        self._thread = threading.Thread(target=work, name="load", daemon=True)

    def start(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60) -> LoadResult:
        self._stop.set()
        self._thread.join(timeout)
        if self.result is None:
            raise MlopsError("the background load did not stop")
        return self.result


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
