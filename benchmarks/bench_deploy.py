"""How fast and how safe is `mlops deploy`? Figures from one run on this machine.

- local deploy to ready: `mlops deploy m:1 --name N` as a whole process (it returns once the
  revision passed its gate and holds the port), median of --runs; beside it, the bare server
  (`python -m mlops_cli.serving`) from start to its first 200 on /v2/health/ready, so the
  ratio shows what the gate, the records and the CLI add;
- docker deploy of a built image to ready, switch and rollback, medians (with --docker);
- zero failed requests: under a bounded load (benchmarks/loadgen.py in its own process: half
  keep-alive clients, half a fresh connection per request) a deployment goes v1 -> v2 -> a
  broken v3 (refused by the smoke test) -> rollback to v1, in cycles until at least
  --min-requests were sent, at each --rate, for local and (with --docker) docker with host
  networking. Prints requests, failures, the achieved rate and the switch times.

The machine is shared: the load generator may not reach the offered rate; it says what it got.

    python benchmarks/bench_deploy.py [--runs 5] [--rate 200 --rate 2000] [--min-requests 5000]
                                      [--docker] [--base-image mlops-test-base:bookworm]
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

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.deploy_helpers import deploy_project  # noqa: E402
from tests.serving_helpers import free_port  # noqa: E402

LOADGEN = REPO / "benchmarks" / "loadgen.py"


def mlops(project: Path, *args: object) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *map(str, args)], cwd=project, capture_output=True, text=True
    )
    return time.perf_counter() - start, done


def checked(project: Path, *args: object) -> float:
    seconds, done = mlops(project, *args)
    if done.returncode != 0:
        raise SystemExit(f"mlops {' '.join(map(str, args))} failed:\n{done.stderr}")
    return seconds


def bare_server_to_ready(project: Path) -> float:
    from mlops_cli.packaging.bundling import local_bundle
    from mlops_cli.store import open_store

    store = open_store(project)
    try:
        _, bundle = local_bundle(store, "m:1")
    finally:
        store.close()
    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cli.serving",
            "--model-dir",
            str(bundle),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def deploy_to_ready(project: Path, runs: int, target: str, extra: list[str]) -> list[float]:
    times = []
    for i in range(runs):
        name = f"bench-{target}-{i}"
        times.append(
            checked(
                project, "deploy", "m:1", "--name", name, "--target", target, "--port", free_port(), *extra
            )
        )
        checked(project, "deploy", "delete", name, "--purge")
    return times


def zero_failure(project: Path, target: str, rate: float, min_requests: int, extra: list[str]) -> dict:
    name, port = f"zf-{target}-{int(rate)}", free_port()
    base = ["--name", name, "--target", target, "--port", port, *extra]
    checked(project, "deploy", "m:1", *base)
    load = subprocess.Popen(
        [sys.executable, str(LOADGEN), str(port), str(rate), "--clients", "32" if rate > 500 else "8"],
        stdout=subprocess.PIPE,
        text=True,
    )
    switches, refusals, rollbacks, cycles = [], [], [], 0
    started = time.monotonic()
    try:
        time.sleep(1.0)
        while cycles == 0 or (time.monotonic() - started) * rate < min_requests * 1.1:
            switches.append(checked(project, "deploy", "m:2", *base))
            seconds, refused = mlops(project, "deploy", "m:3", *base)
            if refused.returncode != 5:
                raise SystemExit(
                    f"the broken v3 was not refused (exit {refused.returncode}):\n{refused.stderr}"
                )
            refusals.append(seconds)
            rollbacks.append(checked(project, "deploy", "rollback", name))
            cycles += 1
        time.sleep(1.0)
    finally:
        load.send_signal(signal.SIGTERM)
        out, _ = load.communicate(60)
        checked(project, "deploy", "delete", name, "--purge")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(cycles=cycles, switch=switches, refused=refusals, rollback=rollbacks)
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_zero(label: str, r: dict, rate: float) -> None:
    print(
        f"  {label:<34} offered {rate:>6,.0f}/s  got {r['rate']:>7,.1f}/s  requests {r['requests']:>7,}"
        f"  failed {r['failed']}  cycles {r['cycles']}"
    )
    print(
        f"  {'':<34} switch {median(r['switch']):.2f} s  refused v3 {median(r['refused']):.2f} s"
        f"  rollback {median(r['rollback']):.2f} s (medians)   answered by versions {r['versions']}"
    )
    if r["failed"]:
        print(f"  {'':<34} first failures: {r['reasons'][:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, action="append")
    parser.add_argument("--min-requests", type=int, default=5000)
    parser.add_argument("--docker", action="store_true")
    parser.add_argument(
        "--base-image", default=os.environ.get("MLOPS_TEST_BASE_IMAGE", "mlops-test-base:bookworm")
    )
    parser.add_argument("--skip-zero", action="store_true", help="only the deploy-to-ready timings")
    args = parser.parse_args()
    rates = args.rate or [200.0, 2000.0]
    os.environ.setdefault("MLOPS_ACTOR", "bench@example.com")
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        project = deploy_project(Path(tmp) / "project")
        load = os.getloadavg()[0]
        print(
            f"bench_deploy: {os.cpu_count()} cores, load average {load:.1f} at start, "
            f"python {sys.version.split()[0]}"
        )
        print(f"\nlocal deploy to ready (whole `mlops deploy` process, create; median of {args.runs})")
        ours = deploy_to_ready(project, args.runs, "local", [])
        bare = [bare_server_to_ready(project) for _ in range(args.runs)]
        print(
            f"  mlops deploy --target local      {median(ours):.2f} s  "
            f"(runs: {', '.join(f'{t:.2f}' for t in ours)})"
        )
        print(
            f"  bare server start to ready       {median(bare):.2f} s  "
            f"-> deploy / bare = {median(ours) / median(bare):.2f}"
        )
        print("  target: under 1.5 s (MLflow's `models serve` takes 4.1-5.2 s to answer /ping per the issue)")
        images = []
        if args.docker:
            for version in (1, 2, 3):
                tag = f"mlops-bench-deploy-m:{version}-{os.getpid()}"
                checked(project, "package", f"m:{version}", "--base-image", args.base_image, "--image", tag)
                images.append(tag)
            print(f"\ndocker deploy of a built image to ready (host networking; median of {args.runs})")
            docker_times = deploy_to_ready(project, args.runs, "docker", [])
            print(f"  mlops deploy --target docker     {median(docker_times):.2f} s  (target: under 5 s)")
        try:
            if not args.skip_zero:
                print(
                    "\nzero failed requests: v1 -> v2 -> broken v3 (refused) -> rollback, "
                    f">= {args.min_requests:,} requests"
                )
                targets = ["local"] + (["docker"] if args.docker else [])
                for target in targets:
                    for rate in rates:
                        result = zero_failure(project, target, rate, args.min_requests, [])
                        report_zero(f"{target} @ {rate:,.0f} req/s", result, rate)
        finally:
            if images:
                subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
