"""The deploy domain's pieces: records and events, settings, the smoke request and gate checks."""

from __future__ import annotations

import json

import pytest

from mlops_cli.audit.provenance import provenance
from mlops_cli.deploy import settings
from mlops_cli.deploy.smoke import smoke_request
from mlops_cli.domain import Artifact, Revision
from mlops_cli.errors import UsageError
from mlops_cli.serving import gate
from mlops_cli.store import deployments as records
from mlops_cli.store.events import query_events
from mlops_cli.targets.base import DeploySpec
from tests.onnx_helpers import logistic_onnx, register_onnx


def _revision(n: int, outcome: str, version: int = 1) -> Revision:
    return Revision(
        deployment="web",
        revision=n,
        kind="create" if n == 1 else "switch",
        model="m",
        version=version,
        digest=f"sha256:{version:064d}",
        requested_ref=f"m:{version}",
        outcome=outcome,
        detail=None if outcome != "failed" else "refused",
        spec={"port": 8080},
        state={"pid": 1},
        rollback_of=None,
        created_at=f"2026-01-0{n}T00:00:00Z",
        actor="a",
        message=None,
    )


def test_records_retire_the_previous_live_revision_and_keep_failures(store):
    records.record_revision(store.conn, "local", _revision(1, "live"), "deploy.create", provenance())
    records.record_revision(store.conn, "local", _revision(2, "failed", 2), "deploy.failed", provenance())
    deployment = records.get_deployment(store.conn, "web")
    assert deployment.current_revision == 1 and deployment.current.ref == "m:1"
    records.record_revision(store.conn, "local", _revision(3, "live", 2), "deploy.switch", provenance("why"))
    assert [(r.revision, r.outcome) for r in records.list_revisions(store.conn, "web")] == [
        (1, "retired"),
        (2, "failed"),
        (3, "live"),
    ]
    assert records.next_revision(store.conn, "web") == 4
    assert [d.name for d in records.live_deployments_of(store.conn, "m", 2)] == ["web"]
    assert records.live_deployments_of(store.conn, "m", 1) == []
    assert records.deployments_of(store.conn, "m", 1) == [
        {"name": "web", "target": "local", "revisions": [1], "live": False}
    ]
    events = query_events(store.conn, model="m")
    assert [e.action for e in events] == ["deploy.switch", "deploy.failed", "deploy.create"]
    assert events[0].message == "why" and events[0].details["revision"]["revision"] == 3
    assert events[0].details["deployment"]["current_revision"] == 3


def test_delete_removes_rows_and_the_event_keeps_them(store):
    records.record_revision(store.conn, "docker", _revision(1, "live"), "deploy.create", provenance())
    records.delete_deployment(store.conn, "web", provenance(), {"purged": False})
    assert records.find_deployment(store.conn, "web") is None
    assert records.list_revisions(store.conn, "web") == []
    [event] = query_events(store.conn, action="deploy.delete")
    assert event.details["deployment"]["target"] == "docker"
    assert event.details["revisions"][0]["ref"] == "m:1"


@pytest.mark.parametrize("name", ["web", "a", "churn-v2", "x1"])
def test_valid_deployment_names(name):
    assert settings.validate_deployment_name(name) == name


@pytest.mark.parametrize("name", ["", "Web", "-web", "web-", "we_b", "a" * 54, "../x", "a.b"])
def test_invalid_deployment_names(name):
    with pytest.raises(UsageError):
        settings.validate_deployment_name(name)


def test_memory_quantities():
    assert settings.memory_bytes("512Mi") == 512 * 2**20
    assert settings.memory_bytes("1Gi") == 2**30
    assert settings.memory_bytes("500M") == 500 * 10**6
    assert settings.memory_bytes("268435456") == 268435456
    for bad in ("lots", "12Q", "1Mi", "-5Mi"):
        with pytest.raises(UsageError):
            settings.memory_bytes(bad)


def test_env_pairs():
    assert settings.parse_env(["A=1", "B_2=x=y", "C="]) == {"A": "1", "B_2": "x=y", "C": ""}
    for bad in ("A", "1A=2", "=x"):
        with pytest.raises(UsageError):
            settings.parse_env([bad])


def test_resources_come_from_options_then_the_newest_profile_then_defaults(store, project):
    version = register_onnx(store, logistic_onnx(project), "m")
    assert settings.resources(version, None, None).to_dict() == {
        "cpu": 1.0,
        "memory": "512Mi",
        "source": "cpu: defaults, memory: defaults",
    }
    old = Artifact(
        "profile",
        "p1",
        None,
        "2026-01-01T00:00:00Z",
        {"recommendation": {"cpu": 0.5, "memory": "1Gi", "confirmed": True}},
    )
    new = Artifact(
        "profile",
        "p2",
        None,
        "2026-02-01T00:00:00Z",
        {"recommendation": {"cpu": 0.25, "memory": "256Mi", "confirmed": True}},
    )
    from dataclasses import replace

    profiled = replace(version, artifacts=(new, old))
    assert settings.resources(profiled, None, None).to_dict() == {
        "cpu": 0.25,
        "memory": "256Mi",
        "source": "cpu: profile, memory: profile",
    }
    assert settings.resources(profiled, 2.0, None).source == "cpu: options, memory: profile"
    with pytest.raises(UsageError):
        settings.resources(version, 0.0, None)


def test_smoke_from_the_signature_and_from_a_registered_dataset(store, project):
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature

    path = logistic_onnx(project)
    version = register_onnx(store, path, "m")
    smoke = smoke_request(store, version)
    assert smoke["kind"] == "infer" and smoke["source"] == "signature" and smoke["rows"] == 2
    assert smoke["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    body = gate.infer_body(smoke["inputs"], 2)
    assert body["inputs"][0]["shape"] == [2, 4] and len(body["inputs"][0]["data"]) == 8
    data = project / "train.csv"
    data.write_text("f0,f1,f2,f3,target\n1,2,3,4,yes\n0.5,0.5,0.5,0.5,no\n9,9,9,9,no\n")
    signature = {**onnx_signature(path), "feature_names": ["f0", "f1", "f2", "f3"]}
    with_data = register_model(store, path, name="d", framework="onnx", datasets=[data], signature=signature)
    smoke = smoke_request(store, with_data)
    assert smoke["kind"] == "invocations" and smoke["source"].endswith("train.csv")
    assert smoke["columns"] == ["f0", "f1", "f2", "f3"] and smoke["data"] == [
        [1, 2, 3, 4],
        [0.5, 0.5, 0.5, 0.5],
    ]


def test_gate_checks_output_shapes():
    outputs = [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "p", "datatype": "FP32", "shape": [-1, 2]},
    ]
    good = {"outputs": [{"name": "label", "shape": [2]}, {"name": "p", "shape": [2, 2]}]}
    assert "label [2]" in gate._check_infer(outputs, good, 2)
    for bad in (
        {"outputs": [{"name": "label", "shape": [3]}, {"name": "p", "shape": [2, 2]}]},
        {"outputs": [{"name": "label", "shape": [2]}, {"name": "p", "shape": [2, 3]}]},
        {"outputs": [{"name": "label", "shape": [2]}]},
        {"outputs": []},
    ):
        with pytest.raises(gate.GateError):
            gate._check_infer(outputs, bad, 2)


def test_spec_round_trips_through_its_record(tmp_path):
    from mlops_cli.deploy.service import spec_from_record, spec_to_record

    spec = DeploySpec(
        "web", 3, "m", 1, "sha256:x", model_dir=tmp_path / "b.json", workdir=tmp_path, env={"A": "1"}
    )
    record = json.loads(json.dumps(spec_to_record(spec)))
    assert spec_from_record(record) == spec


def test_an_artifact_blob_gone_before_its_row_is_refused_under_the_lock(store, model_file, tmp_path):
    """A baseline is added like a registered blob: its existence is checked under the write lock,
    so a `gc --grace 0` between the blob's write and its row cannot leave a row naming nothing."""
    from mlops_cli.domain import ModelRef
    from mlops_cli.errors import StoreError
    from mlops_cli.models.registering import register_model
    from mlops_cli.store import jobs

    register_model(store, model_file, name="raw", framework="sklearn")
    payload = tmp_path / "baseline.json"
    payload.write_text('{"columns": {}}')
    put = store.objects.put_file(payload)
    store.objects.path_for(put.digest).unlink()  # what a concurrent gc would have done
    with pytest.raises(StoreError, match="vanished while recording the baseline"):
        jobs.add_artifact(
            store.conn, ModelRef.parse("raw:1"), "baseline", "b", put.digest, {}, provenance(),
            blob_size=put.size, blob_exists=store.objects.has,
        )  # fmt: skip
    assert store.conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM blobs WHERE digest = ?", (put.digest,)).fetchone()[0] == 0


def test_an_image_of_several_versions_is_recorded_with_all_of_them_or_none(store, model_file):
    """`package A B` records one artifact per version in one transaction: a version that
    cannot be recorded (here, gone from the store) leaves the others without a half record."""
    from mlops_cli.domain import ModelRef
    from mlops_cli.errors import NotFoundError
    from mlops_cli.models.registering import register_model
    from mlops_cli.store import jobs

    register_model(store, model_file, name="a", framework="sklearn")
    register_model(store, model_file, name="b", framework="sklearn")
    refs = [ModelRef.parse("a:1"), ModelRef.parse("b:1"), ModelRef.parse("c:1")]
    events_before = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    with pytest.raises(NotFoundError):
        jobs.add_artifacts(store.conn, refs, "image", "img:1", "sha256:" + "e" * 64, {}, provenance())
    assert store.conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events_before

    recorded = jobs.add_artifacts(
        store.conn, refs[:2], "image", "img:1", "sha256:" + "e" * 64, {}, provenance()
    )
    assert len(recorded) == 2
    rows = store.conn.execute("SELECT version_id, ref FROM artifacts ORDER BY version_id").fetchall()
    assert [r["ref"] for r in rows] == ["img:1", "img:1"] and rows[0]["version_id"] != rows[1]["version_id"]


def test_the_load_helper_counts_a_200_that_is_not_the_inference_json_as_a_failure():
    """A decode error must be a counted failure, not the silent end of a load thread."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.deploy_helpers import Load

    answers = iter([b'{"model_version": "1", "outputs": [{"name": "label"}]}', b"<html>busy</html>"] * 1000)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers["content-length"]))
            body = next(answers)
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Load(f"http://127.0.0.1:{server.server_address[1]}", rate=100, clients=2) as load:
            time.sleep(1.0)
    finally:
        server.shutdown()
    assert load.total >= 20  # both threads kept going after the first bad answer
    assert load.ok >= 5 and len(load.failures) >= 5
    assert all("not the inference JSON" in failure for failure in load.failures), load.failures[:3]
