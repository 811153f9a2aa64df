"""`mlops deploy --target local` end to end: real server processes, real HTTP, real handoffs.

One module-scoped project holds `m` v1, v2, a v3 whose every inference fails and a v4 that is
not an ONNX graph; each test uses its own deployment name and port and deletes it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy_helpers import BODY, Load, deploy_project, mlops, mlops_json, server_pids
from tests.serving_helpers import ACTOR, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return deploy_project(tmp_path_factory.mktemp("deploy") / "project")


@pytest.fixture
def name(project, request):
    name = request.node.name.replace("_", "-")[5:40].strip("-")
    yield name
    mlops(project, "deploy", "delete", name, "--purge", check=False)
    assert server_pids(project, name) == []


def _version_served(port: int) -> str:
    return httpx.post(f"http://127.0.0.1:{port}/v2/models/m/infer", json=BODY, timeout=10).json()[
        "model_version"
    ]


def test_create_switch_refuse_rollback_without_a_failed_request(project, name):
    port = free_port()
    created = mlops_json(project, "deploy", "m:1", "--name", name, "--port", port, "-m", "first")
    assert created["action"] == "create" and created["revision"] == 1
    assert created["endpoint"] == f"http://127.0.0.1:{port}"
    assert created["smoke"] == {"kind": "infer", "source": "signature", "rows": 2}
    assert _version_served(port) == "1"
    with Load(f"http://127.0.0.1:{port}", rate=200) as load:
        time.sleep(0.5)
        switched = mlops_json(project, "deploy", "m:2", "--name", name, "--port", port)
        assert switched["action"] == "switch" and switched["previous_revision"] == 1
        refused = mlops(project, "deploy", "m:3", "--name", name, "--port", port, check=False)
        assert refused.returncode == 5
        assert refused.stderr.strip().splitlines()[-1].startswith("error: revision 3 of")
        assert "smoke inference answered 500" in refused.stderr
        assert "  | " in refused.stderr  # the new revision's log tail
        back = mlops_json(project, "deploy", "rollback", name, "--to", "1", "-m", "v2 is worse")
        assert back["action"] == "rollback" and back["revision"] == 4
        time.sleep(0.5)
    assert load.failures == [], load.failures[:5]
    assert load.total >= 200 and set(load.versions) == {"1", "2"}
    assert _version_served(port) == "1"
    history = mlops_json(project, "deploy", "history", name)
    assert [(r["revision"], r["kind"], r["ref"], r["outcome"]) for r in history] == [
        (1, "create", "m:1", "retired"),
        (2, "switch", "m:2", "retired"),
        (3, "switch", "m:3", "failed"),
        (4, "rollback", "m:1", "live"),
    ]
    assert history[0]["message"] == "first" and history[0]["actor"] == ACTOR
    assert history[3]["rollback_of"] == 1 and history[3]["message"] == "v2 is worse"
    # the refused revision's whole log is kept; only one server runs
    log = project / ".mlops" / "deployments" / name / "logs" / "r3.log"
    assert "Reshape" in log.read_text()
    assert len(server_pids(project, name)) == 1
    events = mlops_json(project, "audit", "log", "--limit", "20")
    actions = [e["action"] for e in events if e["subject"] == f"deployment:{name}"]
    assert actions == ["deploy.rollback", "deploy.failed", "deploy.switch", "deploy.create"]
    failed = next(
        e for e in events if e["action"] == "deploy.failed" and e["subject"] == f"deployment:{name}"
    )
    assert failed["details"]["revision"]["outcome"] == "failed" and failed["details"]["model"] == "m:3"


def test_status_reports_a_dead_process_and_logs_are_kept(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    status = mlops_json(project, "deploy", "status", name)
    assert status["running"] and status["ready"] and status["revision"] == 1
    assert mlops(project, "deploy", "logs", name, "--tail", "2").stdout.count("\n") == 2
    pid = int((project / ".mlops" / "deployments" / name / "pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    done = mlops(project, "deploy", "status", name, "--json", check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["running"] is False
    assert "not running" in json.loads(done.stdout)["detail"]
    # a switch after a crash binds the port again instead of waiting for a handoff
    switched = mlops_json(project, "deploy", "m:2", "--name", name, "--port", port)
    assert switched["revision"] == 2 and _version_served(port) == "2"


def test_a_crash_at_start_up_is_refused_and_its_log_kept(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    done = mlops(project, "deploy", "m:4", "--name", name, "--port", port, check=False)
    assert done.returncode == 5
    assert "stopped before it was ready" in done.stderr
    assert (project / ".mlops" / "deployments" / name / "logs" / "r2.log").stat().st_size > 0
    assert _version_served(port) == "1"
    assert len(server_pids(project, name)) == 1


def test_models_rm_refuses_a_served_version_and_show_lists_deployments(project, name):
    port = free_port()
    mlops(project, "deploy", "m:2", "--name", name, "--port", port)
    refused = mlops(project, "models", "rm", "m:2", check=False)
    assert refused.returncode == 2 and name in refused.stderr
    shown = mlops_json(project, "models", "show", "m:2")
    assert {"name": name, "target": "local", "revisions": [1], "live": True} in shown["deployments"]
    listed = mlops_json(project, "deploy", "list")
    assert any(d["name"] == name and d["current"]["ref"] == "m:2" for d in listed)


def test_port_in_use_is_refused_and_nothing_is_left(project, name):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = mlops(project, "deploy", "m:1", "--name", name, "--port", port, check=False)
    assert done.returncode == 5
    assert "cannot listen on 127.0.0.1" in done.stderr
    assert "nothing was serving before" in done.stderr and "keeps serving" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert server_pids(project, name) == []
    status = mlops(project, "deploy", "status", name, "--json", check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["revision"] is None


def test_ctrl_c_during_a_switch_leaves_the_old_revision_serving(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    env = {**os.environ, "MLOPS_ACTOR": ACTOR}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "deploy", "m:2", "--name", name, "--port", str(port)],
        cwd=project,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = project / ".mlops" / "deployments" / name / "logs" / "r2.log"
    deadline = time.monotonic() + 30
    while not run.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)  # while revision 2 starts, before its gate passed
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    assert _version_served(port) == "1"
    assert len(server_pids(project, name)) == 1
    history = mlops_json(project, "deploy", "history", name)
    assert [(r["revision"], r["outcome"]) for r in history] == [(1, "live"), (2, "failed")]
    assert history[1]["detail"] == "interrupted (Ctrl-C)"


def test_delete_stops_the_server_and_keeps_the_audit_trail(project):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", "to-delete", "--port", port, "--collect")
    assert len(server_pids(project, "to-delete")) == 1
    deleted = mlops_json(project, "deploy", "delete", "to-delete", "-m", "done")
    assert deleted["deleted"] == "to-delete"
    assert server_pids(project, "to-delete") == []
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2)
    assert mlops(project, "deploy", "status", "to-delete", check=False).returncode == 1
    event = mlops_json(project, "audit", "log", "--action", "deploy.delete")[0]
    assert event["message"] == "done" and event["details"]["revisions"][0]["ref"] == "m:1"


def test_api_key_env_collect_and_following_logs(project, name, monkeypatch):
    monkeypatch.setenv("DEPLOY_TEST_KEY", "s3cret-key")
    port = free_port()
    mlops(
        project,
        "deploy",
        "m:1",
        "--name",
        name,
        "--port",
        port,
        "--api-key-env",
        "DEPLOY_TEST_KEY",
        "--env",
        "MLOPS_DEPLOY_TEST=hello",
        "--collect",
    )
    url = f"http://127.0.0.1:{port}/v2/models/m/infer"
    assert httpx.post(url, json=BODY, timeout=10).status_code == 401
    headers = {"authorization": "Bearer s3cret-key"}
    assert httpx.post(url, json=BODY, headers=headers, timeout=10).status_code == 200
    folder = project / ".mlops" / "deployments" / name
    pid = int((folder / "pid").read_text().split()[0])
    assert b"MLOPS_DEPLOY_TEST=hello" in Path(f"/proc/{pid}/environ").read_bytes()
    follower = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "deploy", "logs", name, "--follow", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = json.loads(follower.stdout.readline())
    assert "line" in first
    mlops(project, "deploy", "delete", name)  # graceful: the collector flushes, --follow ends
    follower.wait(30)
    assert follower.returncode == 0
    assert list((folder / "collected").rglob("*.parquet")), "collected data is kept after delete"


def test_the_smoke_request_uses_the_registered_dataset(project, name):
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.store import open_store
    from tests.onnx_helpers import FEATURES, logistic_onnx

    data = project / "sample.csv"
    data.write_text("f0,f1,f2,f3,label\n0.1,0.2,0.3,0.4,1\n1,2,3,4,0\n")
    store = open_store(project)
    try:
        path = logistic_onnx(project)
        signature = {**onnx_signature(path), "feature_names": FEATURES}
        register_model(store, path, name="withdata", framework="onnx", datasets=[data], signature=signature)
    finally:
        store.close()
    created = mlops_json(project, "deploy", "withdata:1", "--name", name, "--port", free_port())
    assert created["smoke"]["kind"] == "invocations" and created["smoke"]["rows"] == 2
    assert created["smoke"]["source"].endswith("sample.csv")
    assert "2 rows from dataset" in created["state"]["detail"]


def test_several_workers_switch_without_a_failed_request(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port, "--replicas", "2")
    assert len(server_pids(project, name)) == 2
    status = mlops_json(project, "deploy", "status", name)
    assert status["ready"] and status["info"]["workers"] == 2 and "2/2 workers" in status["detail"]
    with Load(f"http://127.0.0.1:{port}", rate=200) as load:
        time.sleep(0.3)
        mlops(project, "deploy", "m:2", "--name", name, "--port", port, "--replicas", "3")
        assert len(server_pids(project, name)) == 3
        mlops(project, "deploy", "rollback", name)  # to revision 1: two workers again
        time.sleep(0.3)
    assert load.failures == [], load.failures[:5]
    assert load.total >= 200 and set(load.versions) == {"1", "2"}
    assert len(server_pids(project, name)) == 2
    pids = (project / ".mlops" / "deployments" / name / "pid").read_text().split()
    assert sorted(map(int, pids)) == sorted(server_pids(project, name))


def test_the_workers_of_a_revision_answer_metrics_for_all(project, name):
    """A scrape reaches any worker of the revision; each answers the revision's totals (one
    folder under run/, owner-only, removed with the revision). Before, each gave its own."""
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port, "--replicas", "3")
    url = f"http://127.0.0.1:{port}"

    def infer_total() -> float:
        families = text_string_to_metric_families(httpx.get(url + "/metrics", timeout=10).text)
        samples = next(f for f in families if f.name == "mlops_requests").samples
        return sum(s.value for s in samples if s.labels["endpoint"] == "infer")

    time.sleep(1.2)  # the workers' own smoke requests are written down
    before = {infer_total() for _ in range(12)}
    assert len(before) == 1  # every worker answers the same total
    for _ in range(40):  # new connections: the kernel hands them to every worker
        assert httpx.post(url + "/v2/models/m/infer", json=BODY, timeout=10).status_code == 200
    time.sleep(1.5)  # every worker has written its figures since
    assert {infer_total() for _ in range(12)} == {before.pop() + 40}
    shared = project / ".mlops" / "deployments" / name / "run" / "r1.metrics"
    assert shared.is_dir() and shared.stat().st_mode & 0o777 == 0o700
    mlops(project, "deploy", "m:2", "--name", name, "--port", port, "--replicas", "3")
    assert not shared.exists()  # the retired revision's folder went with it


def test_a_gate_timeout_refuses_the_revision_and_leaves_nothing(project, name):
    done = mlops(
        project, "deploy", "m:1", "--name", name, "--port", free_port(), "--wait-timeout", "0.05", check=False
    )
    assert done.returncode == 5
    assert "was not ready within 0.05 s" in done.stderr.strip().splitlines()[-1]
    assert server_pids(project, name) == []


def test_a_restarted_worker_shares_its_siblings_listener(project, name):
    """What Docker's restart policy does to a crashed worker, done by hand: same argv again."""
    from mlops_cli.serving import handoff

    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port, "--replicas", "2")
    pids = [int(p) for p in (project / ".mlops" / "deployments" / name / "pid").read_text().split()]
    argv = Path(f"/proc/{pids[1]}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    control = argv[argv.index(b"--control") + 1].decode()
    os.kill(pids[1], signal.SIGKILL)
    time.sleep(0.3)
    restarted = subprocess.Popen(argv, cwd=project / ".mlops" / "deployments" / name, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        answer = {}
        while time.monotonic() < deadline and not answer.get("public"):
            try:
                answer = handoff.request(control, "status", timeout=5)
            except OSError:
                time.sleep(0.2)
        assert answer.get("public") == ["127.0.0.1", port], answer
        assert _version_served(port) == "1"
    finally:
        restarted.terminate()
        restarted.wait(30)


def test_a_rollback_target_is_kept_by_gc_and_refused_by_models_rm(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    mlops(project, "deploy", "m:2", "--name", name)
    refused = mlops(project, "models", "rm", "m:1", check=False)
    assert refused.returncode == 2
    assert f"m:1 is a rollback target of {name} (revision 1)" in refused.stderr
    files = [f["digest"] for f in mlops_json(project, "models", "show", "m:1")["files"]]
    planned = mlops_json(project, "gc", "--dry-run", "--grace", "0")
    kept = {k["digest"]: k["reason"] for k in planned["kept_for_deployments"]}
    assert kept[files[0]] == f"{name} can roll back to m:1 (revision 1)"
    assert files[0] not in [b["digest"] for b in planned["blobs"]]
    mlops(project, "gc", "--grace", "0")
    for digest in files:
        hexdigest = digest.partition(":")[2]
        assert (project / ".mlops" / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]).is_file()
    back = mlops_json(project, "deploy", "rollback", name)
    assert back["revision"] == 3 and back["ref"] == "m:1" and _version_served(port) == "1"


def test_a_switch_keeps_the_deployments_port_and_refuses_another(project, name):
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    switched = mlops_json(project, "deploy", "m:2", "--name", name)
    assert switched["endpoint"] == f"http://127.0.0.1:{port}"
    assert mlops_json(project, "deploy", "history", name)[-1]["spec"]["port"] == port
    status = mlops_json(project, "deploy", "status", name)
    assert status["ready"] and status["endpoint"] == f"http://127.0.0.1:{port}"
    assert _version_served(port) == "2"
    moved = mlops(project, "deploy", "m:1", "--name", name, "--port", free_port(), check=False)
    assert moved.returncode == 2
    assert f"serves with --port {port}" in moved.stderr and f"mlops deploy delete {name}" in moved.stderr
    assert len(mlops_json(project, "deploy", "history", name)) == 2  # nothing was started


def test_a_switch_keeps_the_deployments_execution_providers(project, name):
    """--providers is recorded with the revision and a switch without it keeps them (defaults of
    a follow-up come from the record); every revision's server reports what it chose."""
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port, "--providers", "cuda,cpu")
    mlops(project, "deploy", "m:2", "--name", name)
    history = mlops_json(project, "deploy", "history", name)
    wanted = "CUDAExecutionProvider,CPUExecutionProvider"
    assert [r["spec"]["options"].get("providers") for r in history] == [wanted, wanted]
    logs = sorted((project / ".mlops" / "deployments" / name / "logs").glob("r*.log"))
    import onnxruntime as ort

    chosen = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() else "CPU"
    assert len(logs) == 2 and all(f"execution provider: {chosen}" in log.read_text() for log in logs)
    assert _version_served(port) == "2"
