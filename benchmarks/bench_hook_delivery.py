"""Hook delivery under a scripted loop: one dead hook, one healthy hook, N `mlops models tag`.

The loop runs N whole `python -m mlops_cli models tag` processes, one after another, in a store
whose config.yaml routes every event to two webhooks: one at a server that accepts connections
and never answers (timeout 5 s, 3 retries: about 20 s per delivery), one at a healthy receiver
on 127.0.0.1. A thread samples the process table every 10 ms for the store's deliverers.

Prints: the loop's wall time and per-command median, how long after the loop's end the healthy
receiver had every delivery (target: within seconds), the most deliverer processes seen at
once (target: 1) and how many distinct ones ran, and where the dead hook's rows stand.

Usage: python benchmarks/bench_hook_delivery.py [--commands 1000] [--settle 120]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.webhook_receiver import Receiver, deliverer_pids  # noqa: E402


def statuses(store_root: Path) -> dict[str, dict[str, int]]:
    conn = sqlite3.connect(store_root / "mlops.db")
    try:
        rows = conn.execute(
            "SELECT json_extract(hook, '$.name'), status, COUNT(*) FROM outbox GROUP BY 1, 2"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, int]] = {}
    for name, status, count in rows:
        out.setdefault(name, {})[status] = count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the healthy hook")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_ACTOR": "bench@example.com"}
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(4096)  # accepts into the backlog, never answers
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as work, Receiver() as healthy:
        project = Path(work)
        store_root = project / ".mlops"
        subprocess.run([sys.executable, "-m", "mlops_cli", "init"], cwd=project, env=env, check=True)
        model = project / "model.bin"
        model.write_bytes(os.urandom(4096))
        subprocess.run(
            [sys.executable, "-m", "mlops_cli", "register", str(model), "--name", "m"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        (store_root / "config.yaml").write_text(
            "hooks:\n"
            f"  - name: dead\n    events: [tag]\n    url: http://127.0.0.1:{dead.getsockname()[1]}/never\n"
            f"  - name: healthy\n    events: [tag]\n    url: {healthy.url}\n"
        )
        seen: list[int] = []
        pids: set[int] = set()
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                now = deliverer_pids(store_root)
                seen.append(len(now))
                pids.update(now)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        durations = []
        started = time.monotonic()
        for number in range(args.commands):
            t0 = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "mlops_cli", "models", "tag", "m:1", f"k{number}=v"],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
            durations.append(time.monotonic() - t0)
        loop_end = time.monotonic()
        deadline = loop_end + args.settle
        while len(healthy.requests) < args.commands and time.monotonic() < deadline:
            time.sleep(0.05)
        healthy_done = time.monotonic()
        stop.set()
        sampler.join()
        final = statuses(store_root)
        for pid in deliverer_pids(store_root):  # still waiting on the dead hook
            os.kill(pid, signal.SIGKILL)
    dead.close()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"commands: {args.commands} `mlops models tag`, each a whole process")
    print(
        f"loop: {loop_end - started:.1f} s, median {statistics.median(durations) * 1000:.0f} ms per command"
    )
    got = len(healthy.requests)
    print(
        f"healthy hook: {got}/{args.commands} delivered, the last {healthy_done - loop_end:.2f} s after"
        f" the loop's end (target: within seconds)"
    )
    print(f"deliverer processes: at most {max(seen)} at once over {len(seen)} samples (target: 1);"
          f" {len(pids)} distinct ran")  # fmt: skip
    print(f"outbox by hook and status: {final}")


if __name__ == "__main__":
    main()
