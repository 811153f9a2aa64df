"""What trust costs: `audit verify` on a large store, and read verification on a large model.

Prints, measured side by side in one run (median of several runs):
  - `mlops audit verify` on a store with 10,000 versions (target < 5 s), whole process, with
    its phases measured in-process: SQLite integrity check, chain, replay + compare, blobs;
    beside it the landed verify's work (chain + blobs) as the baseline ratio;
  - `PRAGMA quick_check` on that database (what checking every page at every open would cost);
  - read verification of one version (rows against the trail): per call;
  - a large model: `models download` vs `sha256sum && cp`, and the re-hash each use of a
    cached copy costs (`sha256_file`) vs `sha256sum` and a bare `cat > /dev/null`.

Usage: python benchmarks/bench_audit.py [--versions 10000] [--size-mb 1024] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
MLOPS = [sys.executable, "-m", "mlops_cli"]


def timed(argv: list[str] | str, cwd: Path, shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, shell=shell, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(runs: int, fn) -> float:
    return statistics.median(fn() for _ in range(runs))


def fill_store(project: Path, versions: int) -> float:
    """`versions` versions of 500 models, each its own 1 KiB blob; tags, aliases, some moved."""
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.domain import FileEntry, Manifest, ModelRef
    from mlops_cli.store import init_store, registry

    store, _ = init_store(project, provenance())
    prov = provenance()
    source = project / "blob.bin"
    start = time.perf_counter()
    for i in range(versions):
        source.write_bytes(i.to_bytes(8, "big") * 128)
        put = store.objects.put_file(source)
        name = f"model-{i % 500:03d}"
        draft = registry.VersionDraft(
            name=name,
            manifest=Manifest((FileEntry("model.bin", put.size, 0o644, put.digest),)),
            framework="unknown",
            source_path=str(source),
            tags={"i": str(i), "team": "growth"},
            alias="champion" if i % 7 == 0 else None,
        )
        version = registry.create_version(
            store.conn, draft, prov, blob_exists=store.objects.has, write_record=store.records.write
        )
        if i % 10 == 0:
            registry.set_tags(store.conn, ModelRef(name, version.version), {"reviewed": "yes"}, prov)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def bench_verify(work: Path, versions: int, runs: int) -> None:
    from mlops_cli.audit import replay, trail
    from mlops_cli.store import open_store
    from mlops_cli.store.snapshot import read_tables

    project = work / "many"
    fill = fill_store(project, versions)
    whole = median_of(runs, lambda: timed([*MLOPS, "audit", "verify", "--json"], project))
    listing = median_of(runs, lambda: timed([*MLOPS, "models", "list", "--json"], project))
    listed_with, listed_without = list_in_process(project, runs)
    store = open_store(project / ".mlops")
    report = trail.VerifyReport()

    def chain():
        report.problems.clear()
        return trail._check_chain(store, report)

    integrity = median_of(runs, lambda: clock(lambda: trail._integrity_check(store)))
    quick = median_of(runs, lambda: clock(lambda: store.conn.execute("PRAGMA quick_check").fetchall()))
    chain_time = median_of(runs, lambda: clock(chain))
    events = chain()
    replay_time = median_of(
        runs, lambda: clock(lambda: replay.compare(replay.replay(events), read_tables(store.conn)))
    )
    blobs = median_of(runs, lambda: clock(lambda: trail._check_blobs(store, trail.VerifyReport(), None)))
    store.close()
    size = (project / ".mlops" / "mlops.db").stat().st_size
    print(
        f"\n== a store with {versions} versions of 500 models, {len(events)} events, db {size / 1e6:.1f} MB"
    )
    print(f"   (filled in {fill:.1f} s through the store API; median of {runs})")
    print(f"mlops audit verify --json (whole process)   {whole:7.3f} s   (target < 5 s)")
    print(f"  integrity_check                          {integrity:7.3f} s")
    print(f"  chain                                    {chain_time:7.3f} s")
    print(f"  replay + compare with the tables         {replay_time:7.3f} s")
    print(f"  re-hash {versions} blobs                      {blobs:7.3f} s")
    landed = chain_time + blobs
    everything = integrity + chain_time + replay_time + blobs
    print(
        f"the landed verify's work (chain + blobs)     {landed:7.3f} s; all checks in-process"
        f" {everything:.3f} s = {everything / landed:.2f}x"
    )
    print(f"PRAGMA quick_check (run at each open)        {quick * 1000:7.1f} ms")
    print(f"mlops models list --json (whole process)    {listing:7.3f} s   (target < 0.5 s)")
    print(
        f"  in-process open + list: {listed_with:.3f} s with the check at open,"
        f" {listed_without:.3f} s without ({listed_with / listed_without:.2f}x)"
    )


def list_in_process(project: Path, runs: int) -> tuple[float, float]:
    """open_store + list_models with and without the quick_check at open, alternately."""
    import mlops_cli.store as store_module
    from mlops_cli.store import open_store, registry

    def once(limit: int) -> float:
        saved, store_module.QUICK_CHECK_MAX_BYTES = store_module.QUICK_CHECK_MAX_BYTES, limit
        try:
            start = time.perf_counter()
            store = open_store(project / ".mlops")
            registry.list_models(store.conn)
            store.close()
            return time.perf_counter() - start
        finally:
            store_module.QUICK_CHECK_MAX_BYTES = saved

    with_check, without = [], []
    for _ in range(max(runs, 5)):
        with_check.append(once(store_module.QUICK_CHECK_MAX_BYTES))
        without.append(once(0))
    return statistics.median(with_check), statistics.median(without)


def bench_read_verification(work: Path, size_mb: int, runs: int) -> None:
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.hashing import sha256_file
    from mlops_cli.models.manage import show_version
    from mlops_cli.models.registering import register_model
    from mlops_cli.store import init_store
    from mlops_cli.store.integrity import check_version

    project = work / "big"
    store, _ = init_store(project, provenance())
    big = work / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1024 * 1024))
    register_model(store, big, name="big")
    version = show_version(store, "big:1")
    calls = 1000
    per_call = (
        median_of(runs, lambda: clock(lambda: [check_version(store.conn, version) for _ in range(calls)]))
        / calls
    )
    store.close()

    def download() -> float:
        out = work / "out"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        return timed([*MLOPS, "models", "download", "big:1", "--output", str(out)], project)

    def copy() -> float:
        subprocess.run(["rm", "-f", str(work / "copy.bin")], check=True)
        return timed(f"sha256sum {big} >/dev/null && cp {big} {work / 'copy.bin'}", work, shell=True)

    timed(["cat", str(big)], work)  # warm the page cache for every contender alike
    ours = median_of(runs, download)
    theirs = median_of(runs, copy)
    rehash = median_of(runs, lambda: clock(lambda: sha256_file(big)))
    sha = median_of(runs, lambda: timed(["sha256sum", str(big)], work))
    cat = median_of(runs, lambda: timed(f"cat {big} >/dev/null", work, shell=True))
    print(f"\n== read verification (median of {runs})")
    print(f"check_version (rows against the trail)     {per_call * 1e6:7.1f} us per call")
    print(f"\n== a {size_mb} MiB model, page cache warm")
    print(
        f"mlops models download (whole process)      {ours:7.3f} s"
        f"   {ours / theirs:.2f}x sha256sum && cp ({theirs:.3f} s)"
    )
    print(
        f"re-hash of a cached copy (each serve/score) {rehash:7.3f} s"
        f"   {rehash / sha:.2f}x sha256sum ({sha:.3f} s)"
    )
    print(f"cat > /dev/null (reading alone)            {cat:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 versions, 64 MiB, 1 run")
    parser.add_argument("--no-large", action="store_true", help="skip the large-model part")
    args = parser.parse_args()
    if args.quick:
        args.versions, args.size_mb, args.runs = 1000, 64, 1
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        bench_verify(work, args.versions, args.runs)
        if not args.no_large:
            bench_read_verification(work, args.size_mb, args.runs)


if __name__ == "__main__":
    main()
