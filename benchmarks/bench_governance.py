"""Governance costs: what a webhook adds to the command that emits the event, and gc at scale.

Prints, measured side by side in one run (medians of several runs):
  - the in-process cost of one `models tag` with a matching webhook (outbox row + spawning the
    detached deliverer after commit) vs with no matching hook vs with routing off  (target < 5 ms)
    while the receiver takes 0.5 s to answer (the command must not wait for it);
  - the same as whole processes (`mlops models tag`), A/B pairs, when farm-bench is on PATH;
  - `mlops gc` on a store with 10,000 versions and 50,000 blobs, 1,000 of them unreferenced
    (target < 5 s), and its ratio to a bare walk of the blob folder (`find -type f`).

Usage: python benchmarks/bench_governance.py [--runs 30] [--versions 10000] [--files 5] [--gc-runs 3]
       [--quick] [--skip-webhook] [--skip-gc]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.webhook_receiver import wait_for_deliveries  # noqa: E402

MLOPS = [sys.executable, "-m", "mlops_cli"]


def _store(folder: Path):
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store import init_store

    folder.mkdir(parents=True)
    store, _ = init_store(folder, provenance())
    return store


def bench_webhook(work: Path, runs: int) -> None:
    # The receiver runs in its own process: a thread here would make the command take the
    # multi-threaded (Popen) path instead of fork.
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.webhook_receiver", "0.5"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    receiver_url = server.stdout.readline().strip()
    try:
        _bench_webhook(work, runs, receiver_url)
    finally:
        server.terminate()
        server.wait()


def _bench_webhook(work: Path, runs: int, receiver_url: str) -> None:
    from mlops_cli.events import routing
    from mlops_cli.models import manage
    from mlops_cli.models.registering import register_model
    from mlops_cli.store import db, events

    stores = {}
    for name, hooks in (
        ("webhook", f"hooks:\n  - events: [tag]\n    url: {receiver_url}\n"),
        ("no-match", f"hooks:\n  - events: [deploy.*]\n    url: {receiver_url}\n"),
        ("routing-off", "hooks: []\n"),
    ):
        store = _store(work / name)
        (store.paths.root / "config.yaml").write_text(hooks)
        model = work / f"{name}.bin"
        model.write_bytes(os.urandom(4096))
        register_model(store, model, name="m")
        stores[name] = store
    times: dict[str, list[float]] = {name: [] for name in stores}
    order = list(stores)
    for i in range(runs + 1):
        random.shuffle(order)  # no configuration always runs right after another
        for name in order:
            store = stores[name]
            if name == "routing-off":
                events.EVENT_SINKS.clear()
                db.AFTER_COMMIT.clear()
            else:
                routing.install()
            start = time.perf_counter()
            manage.tag_version(store, "m:1", [f"k{i}=v"])
            elapsed = time.perf_counter() - start
            if i:  # the first round warms caches (config parse, imports)
                times[name].append(elapsed)
            if name == "webhook":  # not timed: let the deliverer finish and exit
                wait_for_deliveries(store.paths.root, timeout=60)
                _wait_deliverers(routing)
    rows = wait_for_deliveries(stores["webhook"].paths.root, timeout=60)
    delivered = sum(r["status"] == "delivered" for r in rows)
    spawns: dict[str, list[float]] = {"fork": [], "Popen": []}
    for _ in range(runs):  # the one step a matching hook adds after the commit, both ways
        for way in spawns:
            other = threading.Thread(target=time.sleep, args=(0.5,))
            if way == "Popen":
                other.start()  # a second thread makes spawn_deliverer take the Popen path
            time.sleep(0.2)  # let the last deliverer exit
            start = time.perf_counter()
            routing.spawn_deliverer(stores["webhook"].paths.root)
            spawns[way].append(time.perf_counter() - start)
            if way == "Popen":
                other.join()
            wait_for_deliveries(stores["webhook"].paths.root, timeout=60)
            _wait_deliverers(routing)
    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"\n== webhook cost per command, in process (median of {runs}, receiver answers in 0.5 s)")
    for name, value in med.items():
        print(f"  models tag, {name:<12} {value:7.2f} ms  (min {min(times[name]) * 1000:.2f} ms)")
    print(
        f"  added by a matching webhook vs routing off: {med['webhook'] - med['routing-off']:+.2f} ms "
        f"(ratio {med['webhook'] / med['routing-off']:.2f}x); no matching hook: "
        f"{med['no-match'] - med['routing-off']:+.2f} ms   target < 5 ms; {delivered} deliveries received"
    )
    fork_ms, popen_ms = (statistics.median(spawns[w]) * 1000 for w in ("fork", "Popen"))
    print(
        f"  starting the detached deliverer: fork {fork_ms:.2f} ms, subprocess.Popen {popen_ms:.2f} ms"
        f" ({popen_ms / fork_ms:.1f}x; Popen waits for the child's exec)"
    )
    for store in stores.values():
        store.close()
    if shutil.which("farm-bench"):  # the receiver still answers in 0.5 s
        with_hook, without = work / "webhook", work / "routing-off"
        print("\n== whole process: mlops models tag, with a matching webhook (A) vs no hooks (B)")
        command = [
            "farm-bench", "-n", "15", "--vs",
            f"{' '.join(MLOPS)} models tag m:1 b=1 --store {without}",
            "--", *MLOPS, "models", "tag", "m:1", "a=1", "--store", str(with_hook),
        ]  # fmt: skip
        subprocess.run(command, check=False)
        wait_for_deliveries(with_hook / ".mlops", timeout=120)


def _wait_deliverers(routing) -> None:
    """Wait for forked deliverers to exit, so none competes with the next measurement."""
    for pid in list(routing._children):
        os.waitpid(pid, 0)
        routing._children.remove(pid)
    time.sleep(0.05)


def build_big_store(work: Path, versions: int, files: int, orphans: int) -> Path:
    """A store with `versions` x `files` referenced blobs (tiny files) and `orphans` old strays."""
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store.db import transaction
    from mlops_cli.store.events import append_event

    store = _store(work / "big")
    root = store.paths.root
    objects = root / "objects" / "sha256"
    prov = provenance()
    now = "2026-01-01T00:00:00Z"
    old = time.time() - 7200
    counter = 0

    def blob() -> tuple[str, int]:
        nonlocal counter
        counter += 1
        data = counter.to_bytes(8, "big") * 8
        hexdigest = hashlib.sha256(data).hexdigest()
        folder = objects / hexdigest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hexdigest[2:]).write_bytes(data)
        return f"sha256:{hexdigest}", len(data)

    with transaction(store.conn) as conn:
        for v in range(versions):
            name = f"model-{v % 500}"
            row = conn.execute("SELECT id, last_version FROM models WHERE name = ?", (name,)).fetchone()
            if row is None:
                model_id = conn.execute(
                    "INSERT INTO models (name, created_at, updated_at) VALUES (?,?,?)", (name, now, now)
                ).lastrowid
                number = 1
            else:
                model_id, number = row["id"], row["last_version"] + 1
            conn.execute("UPDATE models SET last_version = ? WHERE id = ?", (number, model_id))
            version_id = conn.execute(
                "INSERT INTO versions (model_id, version, digest, framework, size, created_at,"
                " created_by, host) VALUES (?,?,?,?,?,?,?,?)",
                (model_id, number, f"sha256:{v:064x}", "onnx", 64 * files, now, "bench", "bench"),
            ).lastrowid
            for f in range(files):
                digest, size = blob()
                conn.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?,?)", (digest, size))
                conn.execute(
                    "INSERT INTO files (version_id, path, size, mode, digest) VALUES (?,?,?,?,?)",
                    (version_id, f"f{f}.bin", size, 0o644, digest),
                )
            append_event(conn, "register", f"{name}:{number}", prov, {"digest": f"sha256:{v:064x}"})
    store.close()
    make_orphans(root, orphans, old)
    return root


def make_orphans(root: Path, count: int, mtime: float) -> None:
    for i in range(count):
        data = f"orphan-{i}-{time.time_ns()}".encode()
        hexdigest = hashlib.sha256(data).hexdigest()
        folder = root / "objects" / "sha256" / hexdigest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hexdigest[2:]).write_bytes(data)
        os.utime(folder / hexdigest[2:], (mtime, mtime))


def bench_gc(work: Path, versions: int, files: int, runs: int) -> None:
    orphans = 1000
    started = time.perf_counter()
    root = build_big_store(work, versions, files, orphans)
    print(f"\n== gc: {versions} versions, {versions * files} referenced blobs, {orphans} unreferenced")
    print(f"  (store built in {time.perf_counter() - started:.1f} s)")
    dry, real, walk = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["find", str(root / "objects"), "-type", "f"], check=True, stdout=subprocess.DEVNULL)
        walk.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = subprocess.run([*MLOPS, "gc", "--dry-run", "--json", "--store", str(root)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        dry.append(time.perf_counter() - start)
        assert json.loads(out)["count"] == orphans
        start = time.perf_counter()
        out = subprocess.run([*MLOPS, "gc", "--json", "--store", str(root)], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        real.append(time.perf_counter() - start)
        report = json.loads(out)
        assert report["count"] == orphans and report["scanned"] == versions * files + orphans
        make_orphans(root, orphans, time.time() - 7200)  # not timed: garbage for the next run
    w, d, r = (statistics.median(x) for x in (walk, dry, real))
    print(f"  find -type f (bare walk)      {w:6.2f} s")
    print(f"  mlops gc --dry-run            {d:6.2f} s   ({d / w:.1f}x the bare walk)")
    print(f"  mlops gc (removes {orphans})      {r:6.2f} s   ({r / w:.1f}x the bare walk)   target < 5 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--gc-runs", type=int, default=3)
    parser.add_argument("--skip-webhook", action="store_true")
    parser.add_argument("--skip-gc", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few runs, 1,000 versions")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.versions, args.gc_runs = 5, 1000, 1
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{when}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="bench-governance-"))
    try:
        os.environ.setdefault("MLOPS_ACTOR", "bench")
        # Outside any git repository: provenance's git subprocesses would dominate the timings.
        os.chdir(work)
        if not args.skip_webhook:
            bench_webhook(work, args.runs)
        if not args.skip_gc:
            bench_gc(work, args.versions, args.files, args.gc_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
