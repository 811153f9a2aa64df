"""Registering is one read pass that hashes while it copies; re-registering writes nothing.

Prints, measured side by side in one run (median of several runs):
  - `mlops register` of a large file vs `sha256sum FILE && cp FILE DEST`   (target <= 1.3x)
  - registering the same bytes again vs `sha256sum FILE`                   (target <= 1.1x)
  - `mlops models list` on a store with 10,000 versions                     (target < 0.5 s)

Usage: python benchmarks/bench_register.py [--size-mb 1024] [--runs 3] [--versions 10000]
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

MLOPS = [sys.executable, "-m", "mlops_cli"]


def timed(argv: list[str] | str, cwd: Path, shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, shell=shell, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(runs: int, fn) -> float:
    return statistics.median(fn() for _ in range(runs))


def bench_large_file(work: Path, size_mb: int, runs: int) -> None:
    big = work / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1024 * 1024))
    dest = work / "copy.bin"

    def baseline_copy() -> float:
        dest.unlink(missing_ok=True)
        return timed(f"sha256sum {big} >/dev/null && cp {big} {dest}", work, shell=True)

    def baseline_sync() -> float:
        dest.unlink(missing_ok=True)
        return timed(f"sha256sum {big} >/dev/null && cp {big} {dest} && sync {dest}", work, shell=True)

    def first_register() -> float:
        project = Path(tempfile.mkdtemp(dir=work))
        subprocess.run([*MLOPS, "init"], cwd=project, check=True, stdout=subprocess.DEVNULL)
        elapsed = timed([*MLOPS, "register", str(big), "--name", "big"], project)
        shutil.rmtree(project)
        return elapsed

    project = work / "again"
    project.mkdir()
    subprocess.run([*MLOPS, "init"], cwd=project, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*MLOPS, "register", str(big), "--name", "big"], cwd=project, check=True, stdout=subprocess.DEVNULL
    )
    copy_of_big = work / "same-bytes.bin"
    shutil.copyfile(big, copy_of_big)

    timed(["cat", str(big)], work)  # warm the page cache for every contender alike
    b_copy = median_of(runs, baseline_copy)
    b_sync = median_of(runs, baseline_sync)
    ours = median_of(runs, first_register)
    b_hash = median_of(runs, lambda: timed(["sha256sum", str(copy_of_big)], work))
    again = median_of(runs, lambda: timed([*MLOPS, "register", str(copy_of_big), "--name", "big"], project))
    blobs = [p for p in (project / ".mlops" / "objects").rglob("*") if p.is_file()]

    print(f"\n== register a {size_mb} MiB file (median of {runs})")
    print(f"sha256sum && cp              {b_copy:7.3f} s")
    print(f"sha256sum && cp && sync      {b_sync:7.3f} s")
    print(
        f"mlops register (fsynced)     {ours:7.3f} s   ratio {ours / b_copy:.2f}x vs sha256sum+cp "
        f"(target <= 1.3x), {ours / b_sync:.2f}x vs +sync"
    )
    print("\n== register the same bytes again (another file, same content)")
    print(f"sha256sum                    {b_hash:7.3f} s")
    print(
        f"mlops register               {again:7.3f} s   ratio {again / b_hash:.2f}x (target <= 1.1x); "
        f"blobs in store: {len(blobs)}"
    )


def fill_store(project: Path, versions: int) -> float:
    """A store in `project` with `versions` versions of 500 models, through the store API;
    returns the seconds it took (also used by bench_startup.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.domain import FileEntry, Manifest
    from mlops_cli.store import init_store, registry

    store, _ = init_store(project, provenance())
    blob = project / "tiny.bin"
    blob.write_bytes(b"tiny model")
    put = store.objects.put_file(blob)
    prov = provenance()
    start = time.perf_counter()
    for i in range(versions):
        draft = registry.VersionDraft(
            name=f"model-{i % 500:03d}",
            manifest=Manifest((FileEntry("m.bin", put.size, 0o644, put.digest),)),
            framework="unknown",
            source_path=str(blob),
            tags={"i": str(i)},
            alias="champion" if i % 7 == 0 else None,
        )
        registry.create_version(store.conn, draft, prov, blob_exists=store.objects.has)
    store.close()
    return time.perf_counter() - start


def bench_list(work: Path, versions: int) -> None:
    project = work / "many"
    fill = fill_store(project, versions)
    list_time = median_of(5, lambda: timed([*MLOPS, "models", "list", "--json"], project))
    help_time = median_of(5, lambda: timed([*MLOPS, "--help"], project))
    print(
        f"\n== a store with {versions} versions of 500 models (filled in {fill:.1f} s, "
        f"{versions / fill:.0f} registrations/s through the store API)"
    )
    print(f"mlops models list --json     {list_time:7.3f} s (target < 0.5 s, includes Python start-up)")
    print(f"mlops --help                 {help_time:7.3f} s (target < 0.3 s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="64 MiB, 1 run, 1,000 versions")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.runs, args.versions = 64, 1, 1000
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        bench_large_file(work, args.size_mb, args.runs)
        bench_list(work, args.versions)


if __name__ == "__main__":
    main()
