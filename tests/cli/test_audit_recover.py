"""`mlops audit recover`: a destroyed or damaged database loses as little as possible."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture
def history(cli, project):
    """m:1-3 (m:3 removed), other:1 with a dataset; a tag and an alias set after registration."""
    files = {}
    for number in (1, 2, 3):
        files[number] = project / f"m{number}.bin"
        files[number].write_bytes(os.urandom(3000 + number))
        assert (
            cli(
                "register", files[number], "--name", "m", "-m", f"v{number}", "--tag", f"k={number}"
            ).exit_code
            == 0
        )
    data = project / "train.csv"
    data.write_text("a,b\n1,2\n")
    assert cli("register", files[1], "--name", "other", "--dataset", data).exit_code == 0
    assert cli("models", "alias", "m:2", "prod").exit_code == 0
    assert cli("models", "tag", "m:1", "later=yes").exit_code == 0
    assert cli("models", "rm", "m:3").exit_code == 0
    return files


def _recover(cli, project: Path) -> dict:
    result = cli("audit", "recover", "--output", project.parent / "rescued", "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def _in_rescued(cli, project, *args):
    return cli(*args, "--store", project.parent / "rescued")


def test_a_deleted_database_comes_back_from_records_and_blobs(cli, project, history):
    (project / ".mlops" / "mlops.db").unlink()
    report = _recover(cli, project)
    assert report["versions"] == {"m:1": "record", "m:2": "record", "other:1": "record"}
    assert report["lost"] == {} and report["events_recovered"] == 0
    out = project / "out"
    assert _in_rescued(cli, project, "models", "download", "m:2", "--output", out).exit_code == 0
    assert (out / "m2.bin").read_bytes() == history[2].read_bytes()
    shown = _in_rescued(cli, project, "models", "show", "m:1", "--json").json
    assert shown["tags"] == {"k": "1"} and shown["message"] == "v1"  # as registered: later changes lost
    other = _in_rescued(cli, project, "models", "show", "other:1", "--json").json
    assert [d["path"].endswith("train.csv") for d in other["datasets"]] == [True]
    assert _in_rescued(cli, project, "audit", "verify").exit_code == 0


def test_a_damaged_database_comes_back_from_its_surviving_events(cli, project, history):
    db = project / ".mlops" / "mlops.db"
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'versions'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)
    before = db.read_bytes()
    report = _recover(cli, project)
    assert db.read_bytes() == before  # the damaged store is only read
    assert report["trail_complete"] is True and report["events_recovered"] == 8
    assert set(report["versions"]) == {"m:1", "m:2", "other:1"}
    shown = _in_rescued(cli, project, "models", "show", "m:1", "--json").json
    assert shown["tags"] == {"k": "1", "later": "yes"}
    assert _in_rescued(cli, project, "models", "show", "m@prod", "--json").json["version"] == 2
    verify = _in_rescued(cli, project, "audit", "verify", "--json")
    assert verify.exit_code == 0 and verify.json["events"] == 9  # the old trail, then `recover`
    log = _in_rescued(cli, project, "audit", "log", "--json").json
    assert [e["action"] for e in log[:2]] == ["recover", "rm"]
    # Version numbers are never reused, also after a recovery.
    assert _in_rescued(cli, project, "register", history[3], "--name", "m", "--json").json["version"] == 4


def test_a_version_whose_blob_is_corrupt_is_named_as_lost_and_unnamed_blobs_are_kept(
    cli, project, store, history
):
    record = cli("models", "show", "m:2", "--json").json
    blob = store.objects.path_for(record["files"][0]["digest"])
    blob.chmod(0o644)
    blob.write_bytes(b"\0" * 3002)
    (project / ".mlops" / "records" / "other" / "1.json").unlink()
    (project / ".mlops" / "records" / "m" / "1.json").unlink()
    (project / ".mlops" / "mlops.db").unlink()
    result = cli("audit", "recover", "--output", project.parent / "rescued", "--json")
    assert result.exit_code == 0
    report = result.json
    assert "m:2" in report["lost"] and "missing or corrupt" in report["lost"]["m:2"]
    assert report["blobs_corrupt"] == [record["files"][0]["digest"]]
    # m:1's and other:1's records are gone: their blobs (model and dataset) come back unnamed,
    # and so does the environment snapshot they (and the lost m:2) named.
    assert report["lost_and_found"] == 3
    assert "m:2 could not be recovered" in result.stderr
    assert _in_rescued(cli, project, "audit", "verify").exit_code == 0


def test_recover_refuses_an_existing_store_as_output(cli, project, history):
    result = cli("audit", "recover", "--output", project)
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_an_intact_store_with_baseline_and_profile_artifacts_recovers_without_lost_and_found(
    cli, project, store
):
    """Artifact blobs come back as the artifacts they were, never also as `lost-and-found`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx

    register_onnx(store, logistic_onnx(project, labels=["no", "yes"]), "churn", class_labels=["no", "yes"])
    rng = np.random.default_rng(0)
    pq.write_table(pa.table({f: rng.normal(0, 1, 200) for f in FEATURES}), project / "train.parquet")
    assert cli("monitor", "baseline", "churn:1", "--data", "train.parquet").exit_code == 0
    profiled = cli(
        "profile", "churn:1", "--mode", "inprocess", "--duration", "0.2", "--warmup", "0.05",
        "--batch-sizes", "1", "--concurrency", "1", "--threads", "1",
    )  # fmt: skip
    assert profiled.exit_code == 0, profiled.stderr
    before = {a["kind"]: a["digest"] for a in cli("models", "show", "churn:1", "--json").json["artifacts"]}
    assert set(before) == {"baseline", "profile"}
    report = _recover(cli, project)  # the `store` fixture still holds it open: events in the WAL
    assert report["trail_complete"] is True and report["events_recovered"] == 4, report
    assert report["lost_and_found"] == 0 and report["versions"] == {"churn:1": "trail"}, report
    shown = _in_rescued(cli, project, "models", "show", "churn:1", "--json").json
    assert {a["kind"]: a["digest"] for a in shown["artifacts"]} == before
    assert _in_rescued(cli, project, "models", "list", "--json").json[0]["name"] == "churn"
    assert len(_in_rescued(cli, project, "models", "list", "--json").json) == 1
    assert _in_rescued(cli, project, "audit", "verify").exit_code == 0
