"""A bounded HTTP load on 127.0.0.1 that counts every failed request, in its own process.

The product's load generator (`mlops_cli.profile.loadgen`) behind a command line: by default
half the clients keep one connection alive, half open a fresh connection per request (with
`Connection: close`); together they send about RATE requests per second until SIGTERM/SIGINT
or DURATION seconds (and at least --min-requests), then print one JSON line: requests,
failures (with the first few reasons), the achieved rate and the versions that answered.

    python benchmarks/loadgen.py PORT RATE [--clients 32] [--duration S] [--mode both]
                                           [--min-requests N]
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from mlops_cli.profile.loadgen import MODES, request_bytes, run_load, served_version

BODY = json.dumps(
    {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4] * 2}]}
).encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("port", type=int)
    parser.add_argument("rate", type=float)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--mode", choices=MODES, default="both")
    parser.add_argument("--min-requests", type=int, default=0, help="keep going until this many were sent")
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    payload = request_bytes("127.0.0.1", args.port, "/v2/models/m/infer", BODY)
    result = run_load(
        "127.0.0.1", args.port, payload, args.clients, args.duration, False, args.rate,
        mode=args.mode, label=served_version, stop=stop, min_requests=args.min_requests, timeout=30,
    )  # fmt: skip
    summary = {
        "requests": result.requests,
        "ok": result.ok,
        "failed": result.failed,
        "reasons": result.reasons[:10],
        "seconds": round(result.elapsed, 2),
        "rate": round(result.requests / result.elapsed, 1) if result.elapsed else 0.0,
        "versions": result.labels,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
