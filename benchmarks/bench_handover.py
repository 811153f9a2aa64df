"""Does a hand-over ever cost a request, and is a freshly created deployment as fast as a switched one?

1. Keep-alive request rate of one client sending back to back (no pacing), on a freshly created
   deployment (the listener `bind_public` made) and on the same deployment after one switch (the
   listener received over SCM_RIGHTS). Without TCP_NODELAY on the created revision's
   connections each small response waits for the client's delayed ACK (Nagle): ~23 req/s
   instead of thousands. The ratio created / switched should be ~1.
2. --switches switches (alternating v2 and v1) under two loads in their own processes
   (benchmarks/loadgen.py): keep-alive clients, and clients opening a new connection for every
   request. Prints requests and failures of each kind; a reset at the hand-over shows up as a
   failed new-connection request.

The machine is shared: the load generators may not reach the offered rates; they say what they got.

    python benchmarks/bench_handover.py [--switches 30] [--rate 1000] [--fresh-rate 500] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy_helpers import deploy_project  # noqa: E402
from tests.serving_helpers import free_port  # noqa: E402

LOADGEN = REPO / "benchmarks" / "loadgen.py"


def checked(project: Path, *args: object) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *map(str, args)], cwd=project, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(map(str, args))} failed:\n{done.stderr}")
    return time.perf_counter() - start


def load(port: int, rate: float, clients: int, mode: str, seconds: float | None = None) -> subprocess.Popen:
    args = [sys.executable, str(LOADGEN), str(port), str(rate), "--clients", str(clients), "--mode", mode]
    if seconds:
        args += ["--duration", str(seconds)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen, stop: bool = True) -> dict:
    if stop:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(120)
    return json.loads(out.strip().splitlines()[-1])


def keep_alive_rate(port: int, seconds: float, rounds: int) -> list[float]:
    """Requests/s of one keep-alive client with no pacing (an offered rate it cannot reach)."""
    return [finished(load(port, 1e6, 1, "keep-alive", seconds), stop=False)["rate"] for _ in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--rate", type=float, default=1000.0, help="keep-alive load, requests/s offered")
    parser.add_argument("--fresh-rate", type=float, default=500.0, help="new-connection load, requests/s")
    parser.add_argument("--seconds", type=float, default=5.0, help="each keep-alive rate measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MLOPS_ACTOR", "bench@example.com")
    print(f"bench_handover: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-handover-") as tmp:
        project = deploy_project(Path(tmp) / "project")
        port, name = free_port(), "handover"
        checked(project, "deploy", "m:1", "--name", name, "--port", port)
        try:
            created = keep_alive_rate(port, args.seconds, args.rounds)
            checked(project, "deploy", "m:2", "--name", name)
            switched = keep_alive_rate(port, args.seconds, args.rounds)
            ratio = statistics.median(created) / statistics.median(switched)
            print(f"\none keep-alive client, back to back, {args.seconds:.0f} s x {args.rounds} (medians)")
            for label, rates in (("created (bound listener)", created), ("switched (received)", switched)):
                print(f"  {label:<28} {statistics.median(rates):>8,.0f} req/s  runs {rates}")
            print(f"  created / switched = {ratio:.2f}   (before TCP_NODELAY on bound listeners: ~23 req/s)")

            keep = load(port, args.rate, 16, "keep-alive")
            fresh = load(port, args.fresh_rate, 8, "fresh")
            times = []
            time.sleep(1.0)
            for i in range(args.switches):
                times.append(checked(project, "deploy", f"m:{1 + (i % 2 == 0)}", "--name", name))
            time.sleep(1.0)
            kept, new = finished(keep), finished(fresh)
        finally:
            subprocess.run(
                [sys.executable, "-m", "mlops_cli", "deploy", "delete", name, "--purge"],
                cwd=project,
                capture_output=True,
            )
    print(f"\n{args.switches} switches under load (median switch {statistics.median(times):.2f} s)")
    for label, r in (("keep-alive (16 clients)", kept), ("new connection per request (8)", new)):
        print(
            f"  {label:<32} requests {r['requests']:>9,}  failed {r['failed']}  got {r['rate']:,.0f}/s"
            f"  versions {r['versions']}"
        )
        if r["failed"]:
            print(f"  {'':<32} first failures: {r['reasons'][:3]}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
