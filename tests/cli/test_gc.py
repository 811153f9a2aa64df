"""`mlops gc`: what it removes, what it keeps, and safety next to a concurrent register loop."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlops_cli.domain import ModelRef
from mlops_cli.store import jobs

OLD = time.time() - 7200  # older than the default grace period of 1h


def orphan(project: Path, size: int = 1234, mtime: float = OLD) -> str:
    """A blob file nothing recorded: what a register killed after writing its blobs leaves."""
    data = os.urandom(size)
    hexdigest = hashlib.sha256(data).hexdigest()
    folder = project / ".mlops" / "objects" / "sha256" / hexdigest[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hexdigest[2:]
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return f"sha256:{hexdigest}"


def test_dry_run_lists_then_gc_removes_once(cli, project, model_file):
    cli("register", model_file, "--name", "churn")
    garbage = orphan(project)
    tmp = project / ".mlops" / "tmp"
    (tmp / "999999-dead.part").write_bytes(b"x" * 100)  # a dead writer's: any command removes it
    nameless = tmp / "left-by-hand.part"  # no writer pid: gc removes it once older than --grace
    nameless.write_bytes(b"y" * 50)
    os.utime(nameless, (time.time() - 7200, time.time() - 7200))
    dry = cli("gc", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert "removed 1 stale temp file (100 B)" in dry.stderr  # swept when the store was opened
    assert not (tmp / "999999-dead.part").exists()
    assert [(b["digest"], b["size"]) for b in dry.json["blobs"]] == [(garbage, 1234)]
    assert dry.json["blobs"][0]["reason"] == "never recorded: left by an interrupted write"
    assert dry.json["temp_bytes"] == 50 and dry.json["event"] is None
    human = cli("gc", "--dry-run")
    assert garbage in human.stdout and "1.2 kB" in human.stdout and "Would remove 1 blob " in human.stdout
    assert nameless.exists()

    real = cli("gc", "--json")
    assert real.json["count"] == 1 and real.json["bytes"] == 1234
    assert not nameless.exists()
    event = cli("audit", "log", "--action", "gc", "--json").json[0]
    assert event["seq"] == real.json["event"]
    assert event["details"]["removed"] == [{"digest": garbage, "size": 1234}]
    assert cli("gc", "--json").json["count"] == 0  # idempotent
    assert cli("audit", "verify").exit_code == 0
    assert cli("models", "download", "churn:1", "--output", project / "out").exit_code == 0


def test_grace_period_keeps_fresh_blobs(cli, project):
    fresh = orphan(project, mtime=time.time())
    result = cli("gc", "--json").json
    assert result["count"] == 0 and result["kept_fresh"] == 1
    assert cli("gc", "--grace", "0", "--json").json["blobs"][0]["digest"] == fresh
    assert cli("gc", "--grace", "soon").exit_code == 2


def test_artifact_and_job_references_keep_blobs(cli, project, model_file, store):
    cli("register", model_file, "--name", "churn")
    baseline = project / "baseline.json"
    baseline.write_text('{"mean": 1}')
    put = store.objects.put_file(baseline)
    os.utime(store.objects.path_for(put.digest), (OLD, OLD))
    jobs.add_artifact(store.conn, ModelRef.parse("churn:1"), "baseline", "b1", put.digest, {}, _prov())
    in_details = orphan(project, size=99)
    jobs.create_job(store.conn, "job-1", "monitor", "churn:1", None, {"output_digest": in_details}, _prov())
    assert cli("gc", "--grace", "0", "--json").json["count"] == 0


def test_reason_names_the_removal_event(cli, project, model_file):
    data = project / "train.csv"
    data.write_text("a,b\n1,2\n")
    record = cli("register", model_file, "--name", "churn", "--dataset", data, "--json").json
    digest = record["datasets"][0]["digest"]
    blob = project / ".mlops" / "objects" / "sha256" / digest[7:9] / digest[9:]
    kept = project / "kept"
    shutil.copy(blob, kept)
    assert cli("models", "rm", "churn:1").exit_code == 0
    rm_seq = cli("audit", "log", "--action", "rm", "--json").json[0]["seq"]
    shutil.copy(kept, blob)  # as if the removal of this file had been interrupted
    os.utime(blob, (OLD, OLD))
    dry = cli("gc", "--dry-run", "--json").json
    assert dry["blobs"] == [
        {"digest": digest, "size": 8, "reason": f"version churn:1 removed at event {rm_seq}"}
    ]


def test_resumes_after_an_interrupted_run(cli, project, store):
    """A run killed mid-way leaves a dead process's trash and rows whose files are gone."""
    gone = orphan(project)
    store.conn.execute("INSERT INTO blobs (digest, size) VALUES (?, ?)", (gone, 1234))
    store.objects.path_for(gone).unlink()
    trash = project / ".mlops" / "tmp" / "999999-gc-abcd"
    trash.mkdir()
    (trash / ("0" * 64)).write_bytes(b"y" * 50)
    result = cli("gc", "--json").json
    assert [b["digest"] for b in result["blobs"]] == [gone]
    assert not trash.exists()
    assert store.conn.execute("SELECT COUNT(*) FROM blobs WHERE digest = ?", (gone,)).fetchone()[0] == 0
    assert cli("audit", "verify").exit_code == 0


def test_concurrent_register_loop_loses_nothing(cli, project):
    """gc runs again and again while another process registers; every version stays whole."""
    sources = []
    for i in range(12):
        path = project / f"m{i}.bin"
        path.write_bytes(os.urandom(3000 + i))
        sources.append(path)
    # Old unreferenced copies of half the upcoming content: register reuses them mid-gc.
    for path in sources[::2]:
        data = path.read_bytes()
        hexdigest = hashlib.sha256(data).hexdigest()
        folder = project / ".mlops" / "objects" / "sha256" / hexdigest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hexdigest[2:]).write_bytes(data)
        os.utime(folder / hexdigest[2:], (OLD, OLD))
    for _ in range(20):
        orphan(project, size=500)
    loop = "\n".join(
        f"python -m mlops_cli register {p} --name m{i % 3} --json >/dev/null || exit 1"
        for i, p in enumerate(sources)
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    registering = subprocess.Popen(
        ["sh", "-c", loop], cwd=project, env=env, stderr=subprocess.PIPE, text=True
    )
    runs = 0
    while registering.poll() is None or runs < 2:
        result = cli("gc", "--json")
        assert result.exit_code == 0, result.stderr
        runs += 1
    assert registering.wait() == 0, registering.stderr.read()
    versions = sum(len(cli("models", "versions", f"m{n}", "--json").json) for n in range(3))
    assert versions == len(sources)
    verify = cli("audit", "verify", "--json")
    assert verify.exit_code == 0, verify.stdout
    assert verify.json["blobs"] == len(sources)
    assert cli("gc", "--grace", "0", "--json").json["count"] == 0  # only referenced blobs remain


def _prov():
    from mlops_cli.audit.provenance import provenance

    return provenance()
