"""A bounded HTTP load on 127.0.0.1 that counts every failed request, in its own process.

Half the clients keep one connection alive, half open a fresh connection per request (with
`Connection: close`); together they send about RATE requests per second until SIGTERM/SIGINT
or DURATION seconds, then print one JSON line: requests, failures (with the first few
reasons), the achieved rate and the versions that answered. asyncio and raw HTTP/1.1, so one
Python process can offer a few thousand requests per second.

    python benchmarks/loadgen.py PORT RATE [--clients 32] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

BODY = json.dumps(
    {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4] * 2}]}
).encode()


def _request(keep_alive: bool) -> bytes:
    head = (
        "POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n" + ("" if keep_alive else "Connection: close\r\n") + "\r\n"
    )
    return head.encode() + BODY


class Counts:
    def __init__(self) -> None:
        self.start = time.time()
        self.ok = 0
        self.failed = 0
        self.reasons: list[str] = []
        self.versions: dict[str, int] = {}

    def fail(self, reason: str) -> None:
        self.failed += 1
        if len(self.reasons) < 10:
            self.reasons.append(f"{reason} (at {time.time() - self.start:.2f} s)")


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool, bytes]:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() == "close", body


async def _client(port: int, interval: float, keep_alive: bool, counts: Counts, stop: asyncio.Event) -> None:
    request = _request(keep_alive)
    connection = None
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            if connection is None:
                connection = await asyncio.open_connection("127.0.0.1", port)
            status, closing, body = await asyncio.wait_for(_exchange(*connection, request), 30)
            if status == 200:
                counts.ok += 1
                version = body.split(b'"model_version":"', 1)[1].split(b'"', 1)[0].decode()
                counts.versions[version] = counts.versions.get(version, 0) + 1
            else:
                counts.fail(f"HTTP {status}")
            if closing or not keep_alive:
                connection[1].close()
                connection = None
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as exc:
            counts.fail(f"{type(exc).__name__}: {exc}"[:160] + (" keep-alive" if keep_alive else " fresh"))
            if connection is not None:
                connection[1].close()
                connection = None
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            next_at = time.monotonic()  # behind schedule: do not burst to catch up
            await asyncio.sleep(0)


async def run(port: int, rate: float, clients: int, duration: float | None, mode: str = "both") -> dict:
    counts, stop = Counts(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration:
        loop.call_later(duration, stop.set)
    start = time.monotonic()
    interval = clients / rate
    keep = {"both": lambda i: i % 2 == 0, "keep-alive": lambda i: True, "fresh": lambda i: False}[mode]
    tasks = [asyncio.create_task(_client(port, interval, keep(i), counts, stop)) for i in range(clients)]
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    total = counts.ok + counts.failed
    return {
        "requests": total,
        "ok": counts.ok,
        "failed": counts.failed,
        "reasons": counts.reasons,
        "seconds": round(elapsed, 2),
        "rate": round(total / elapsed, 1),
        "versions": counts.versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("port", type=int)
    parser.add_argument("rate", type=float)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--mode", choices=("both", "keep-alive", "fresh"), default="both")
    args = parser.parse_args()
    result = asyncio.run(run(args.port, args.rate, args.clients, args.duration, args.mode))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
