"""Remote push speed, side by side with its reference (docs/concepts/benchmarks.md, "Remote speed").

1. Pushing a 1 GiB model to a folder remote vs `cp` of the same blob to the same disk (and vs
   `cp` followed by `sync FILE`, since push fsyncs what it writes). Runs alternate; medians.
   Both the whole `mlops push` command and the transfer alone (in process) are timed.
2. A no-op push of 1,000 versions (everything already on the remote): the command and the
   in-process call, medians.

    python benchmarks/bench_remote.py [--size-mib 1024] [--runs 5] [--versions 1000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package first
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_ACTOR": "bench@example.com"}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=ENV, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def mlops(store: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_cli", *args, "--store", str(store)]


def make_store(folder: Path):
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store import init_store

    store, _ = init_store(folder, provenance())
    return store


def write_random(path: Path, size: int) -> None:
    block = os.urandom(2**20)
    with open(path, "wb") as out:
        for i in range(size // len(block)):
            out.write(block[:8] + i.to_bytes(8, "little") + block[16:])  # distinct, incompressible


def bench_big(work: Path, size_mib: int, runs: int) -> None:
    from mlops_cli.models.registering import register_model
    from mlops_cli.remote.config import add_remote
    from mlops_cli.remote.push import push

    model = work / "big.bin"
    write_random(model, size_mib * 2**20)
    store = make_store(work / "project")
    version = register_model(store, model, name="big")
    blob = store.objects.path_for(version.files[0].digest)
    model.unlink()
    cp, cp_sync, command, inprocess = [], [], [], []
    for run in range(runs):
        target = work / f"cp-{run}"
        cp.append(timed(["cp", str(blob), str(target)]))
        target.unlink()
        cp_sync.append(timed(["sh", "-c", f'cp "{blob}" "{target}" && sync "{target}"']))
        target.unlink()
        remote = work / f"remote-{run}"
        add_remote(store, f"r{run}", str(remote))
        command.append(timed(mlops(store.paths.root, "push", "big:1", "--remote", f"r{run}")))
        shutil.rmtree(remote)
        start = time.perf_counter()
        push(store, ["big:1"], remote_name=f"r{run}")
        inprocess.append(time.perf_counter() - start)
        shutil.rmtree(remote)
    store.close()
    base, synced = statistics.median(cp), statistics.median(cp_sync)
    print(f"push of a {size_mib} MiB model to a folder remote, median of {runs} runs:")
    print(f"  cp                     {base:7.2f} s")
    print(f"  cp + sync FILE         {synced:7.2f} s")
    for label, times in (("mlops push (command)", command), ("push() in process", inprocess)):
        median = statistics.median(times)
        print(f"  {label:22} {median:7.2f} s   {median / base:.2f}x cp   {median / synced:.2f}x cp+sync")


def bench_noop(work: Path, versions: int, runs: int) -> None:
    from mlops_cli.models.registering import register_model
    from mlops_cli.remote.config import add_remote
    from mlops_cli.remote.push import push

    store = make_store(work / "many")
    source = work / "small.bin"
    for i in range(versions):
        source.write_bytes(i.to_bytes(8, "little") * 64)
        register_model(store, source, name=f"m{i % 10}", git=None)
    add_remote(store, "team", str(work / "many-remote"))
    first = push(store, [], all_versions=True)
    assert len(first.versions) == versions
    inprocess, command, listing, version = [], [], [], []
    for _ in range(runs):  # side by side: the start-up of any command, and of any store command
        start = time.perf_counter()
        result = push(store, [], all_versions=True)
        inprocess.append(time.perf_counter() - start)
        assert result.up_to_date == versions and not result.versions and not result.events_uploaded
        command.append(timed(mlops(store.paths.root, "push", "--all")))
        listing.append(timed(mlops(store.paths.root, "models", "list")))
        version.append(timed([sys.executable, "-m", "mlops_cli", "--version"]))
    store.close()
    print(f"no-op push of {versions:,} versions (10 models), median of {runs} runs:")
    print(f"  push() in process      {statistics.median(inprocess):7.3f} s")
    print(f"  mlops push --all       {statistics.median(command):7.3f} s")
    print(f"  mlops models list      {statistics.median(listing):7.3f} s   (opens the same store)")
    print(f"  mlops --version        {statistics.median(version):7.3f} s   (Python + CLI start-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 MiB, 100 versions, 2 runs")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.versions, args.runs = 64, 100, 2
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(
        dir=ROOT / ".bench-tmp" if (ROOT / ".bench-tmp").is_dir() else None
    ) as tmp:
        work = Path(tmp)
        bench_noop(work, args.versions, args.runs)
        bench_big(work, args.size_mib, args.runs)


if __name__ == "__main__":
    main()
