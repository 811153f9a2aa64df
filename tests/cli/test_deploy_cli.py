"""`mlops deploy` input checks, dry runs and read-only commands, in-process (no server starts)."""

from __future__ import annotations

import pytest

from mlops_cli.audit.provenance import provenance
from mlops_cli.store import deployments as records
from tests.onnx_helpers import logistic_onnx, register_onnx
from tests.unit.test_deploy_parts import _revision


@pytest.fixture
def onnx_model(store, project):
    register_onnx(store, logistic_onnx(project), "m")


def _error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["m:1", "--name", "Bad_Name"], 2, "invalid deployment name"),
        (["m:1", "--name", "web", "--target", "nomad"], 2, "unknown target 'nomad'"),
        (["m:1", "--name", "web", "--port", "70000"], 2, "is not a port number"),
        (["m:1", "--name", "web", "--memory", "lots"], 2, "is not a quantity"),
        (["m:1", "--name", "web", "--env", "NOPE"], 2, "is not KEY=VALUE"),
        (["m:1", "--name", "web", "--api-key-env", "MLOPS_TEST_UNSET_KEY"], 2, "empty or unset"),
        (["m:1", "--name", "web", "--wait-timeout", "0"], 2, "--wait-timeout"),
        (["m:1", "--name", "web", "--replicas", "0"], 2, "--replicas must be at least 1"),
        (["m:9", "--name", "web"], 1, "has no version 9"),
        (["switch", "web", "m:1"], 2, "'switch' is not a deploy command (they are: apply, rollback"),
        (["m"], 2, "missing option '--name'"),  # a bare model name is a ref, not a command guess
        (["m:1", "--name", "web", "--providers", "cudda,cpu"], 2, "unknown execution provider 'cudda'"),
        (
            ["m:1", "--name", "web", "--providers", "migraphx"],
            1,
            "is not available in this onnxruntime build",
        ),
    ],
)
def test_bad_input_is_one_error_line(cli, onnx_model, args, code, text):
    result = cli("deploy", *args)
    assert result.exit_code == code, result.stderr
    assert text in _error_line(result)


def test_a_non_onnx_version_is_refused(cli, store, project, model_file):
    from mlops_cli.models.registering import register_model

    register_model(store, model_file, name="sk", framework="sklearn")
    result = cli("deploy", "sk:1", "--name", "web")
    assert result.exit_code == 2 and "not ONNX" in _error_line(result)


def test_a_name_taken_by_another_target_is_refused(cli, store, onnx_model):
    records.record_revision(store.conn, "docker", _revision(1, "live"), "deploy.create", provenance())
    result = cli("deploy", "m:1", "--name", "web", "--target", "local")
    assert result.exit_code == 2
    assert "is a docker deployment, not local" in _error_line(result)


def test_dry_run_kubernetes_prints_manifests_that_validate_and_runs_nothing(
    cli, onnx_model, monkeypatch, tmp_path
):
    import kubernetes_validate.utils as kv
    import yaml

    from tests.kubectl_standin import install
    from tests.unit.test_kubernetes_manifests import newest_two

    standin = install(tmp_path / "bin", monkeypatch)  # a STAND-IN kubectl: must never be called
    result = cli(
        "deploy", "m:1", "--name", "web", "--target", "kubernetes", "--image", "registry.example/m:1",
        "--replicas", "2", "--autoscale", "2:5:70", "--namespace", "ml", "--dry-run", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    plan = result.json["plan"]
    docs = list(yaml.safe_load_all(plan["yaml"]))
    assert {d["kind"] for d in docs} == {
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    for doc in docs:
        for version in newest_two():
            assert kv.validate(doc, version, strict=True) == version
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/m:1"
    assert deployment["metadata"]["annotations"]["mlops/digest"] == result.json["digest"]
    assert plan["commands"][0][-3:] == ["apply", "-f", "-"]
    assert standin.calls == [] and cli("deploy", "list", "--json").json == []


def test_dry_run_local_shows_the_plan_and_changes_nothing(cli, onnx_model, project):
    result = cli("deploy", "m:1", "--name", "web", "--port", "9123", "--env", "A=1", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = result.json
    assert plan["action"] == "plan" and plan["revision"] == 1 and plan["previous_revision"] is None
    assert plan["resources"] == {"cpu": 1.0, "memory": "512Mi", "source": "cpu: defaults, memory: defaults"}
    assert plan["plan"]["switch"] == "bind 127.0.0.1:9123"
    argv = plan["plan"]["argv"]
    assert argv[1:3] == ["-m", "mlops_cli.serving"] and "--control" in argv and "--gate" in argv
    assert plan["plan"]["env"] == ["A"]
    assert cli("deploy", "list", "--json").json == []
    assert cli("audit", "log", "--action", "deploy.create", "--json").json == []


def test_dry_run_docker_shows_the_run_settings_without_an_engine(cli, onnx_model, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = cli(
        "deploy",
        "m:1",
        "--name",
        "web",
        "--target",
        "docker",
        "--cpu",
        "0.5",
        "--memory",
        "256Mi",
        "--dry-run",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    run = result.json["plan"]["run"]
    assert run["network_mode"] == "host" and run["restart_policy"] == {"Name": "unless-stopped"}
    assert run["nano_cpus"] == 500_000_000 and run["mem_limit"] == 256 * 2**20
    assert run["labels"]["mlops.deployment"] == "web" and run["labels"]["mlops.model.version"] == "1"
    assert run["name"] == "mlops-web-r1" and "to be built" in run["image"]


def test_read_commands_on_an_unknown_name(cli):
    for command in ("status", "history", "logs", "rollback", "delete"):
        result = cli("deploy", command, "nope")
        assert result.exit_code == 1, command
        assert "no deployment named 'nope'" in _error_line(result)


def test_rollback_needs_an_earlier_good_revision(cli, store):
    records.record_revision(store.conn, "local", _revision(1, "live"), "deploy.create", provenance())
    records.record_revision(store.conn, "local", _revision(2, "failed", 2), "deploy.failed", provenance())
    assert "no earlier revision that served" in _error_line(cli("deploy", "rollback", "web"))
    assert "never served" in _error_line(cli("deploy", "rollback", "web", "--to", "2"))
    assert "is the one serving" in _error_line(cli("deploy", "rollback", "web", "--to", "1"))
    assert "has no revision 7" in _error_line(cli("deploy", "rollback", "web", "--to", "7"))


def test_list_and_history_json(cli, store):
    records.record_revision(store.conn, "local", _revision(1, "live"), "deploy.create", provenance())
    listed = cli("deploy", "list", "--json").json
    assert listed[0]["name"] == "web" and listed[0]["current"]["ref"] == "m:1"
    history = cli("deploy", "history", "web", "--json").json
    assert history[0]["outcome"] == "live" and history[0]["revision"] == 1
    assert "web" in cli("deploy", "list").stdout


def test_kubernetes_deploy_through_kubectl_records_revisions_and_shows_a_failed_rollout(
    cli, onnx_model, monkeypatch, tmp_path
):
    """`mlops deploy --target kubernetes` end to end through the CLI, with a STAND-IN kubectl on
    PATH (no cluster can run here; tests/kubectl_standin.py records argv and stdin and answers
    as kubectl would). The real-cluster run is tests/integration/test_kubernetes_cluster.py."""
    from tests.kubectl_standin import install
    from tests.unit.test_kubernetes_target import CRASHING_POD, EVENTS, LOG, deployment_json

    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply("rollout", "status", stdout='deployment "fraud" successfully rolled out\n', times=1)
    standin.reply("rollout", "status", rc=1, stderr="error: timed out waiting for the condition\n", times=1)
    standin.reply("rollout", "status", stdout='deployment "fraud" successfully rolled out\n')  # after undo
    standin.reply("get", "deployment", stdout=deployment_json(revision=1, version=1, ready=0, desired=1))
    standin.reply("get", "pods", stdout=CRASHING_POD)
    standin.reply("get", "events", stdout=EVENTS)
    standin.reply("logs", stdout=LOG)
    common = [
        "--name",
        "fraud",
        "--target",
        "kubernetes",
        "--image",
        "registry.example/m:1",
        "--namespace",
        "ml",
    ]
    created = cli("deploy", "m:1", *common, "--wait-timeout", "5", "--json")
    assert created.exit_code == 0, created.stderr
    assert created.json["revision"] == 1 and created.json["target"] == "kubernetes"
    applied = [call for call in standin.calls if call["argv"][-3:] == ["apply", "-f", "-"]]
    assert len(applied) == 1 and "kind: Deployment" in applied[0]["stdin"]

    failed = cli("deploy", "m:1", *common, "--wait-timeout", "5", "-m", "retry")
    assert failed.exit_code == 5, failed.stderr
    assert "CrashLoopBackOff" in failed.stderr and failed.stderr.strip().splitlines()[-1].startswith(
        "error: "
    )
    assert any("undo" in argv for argv in standin.argvs)
    history = cli("deploy", "history", "fraud", "--json").json
    assert sorted((r["revision"], r["outcome"]) for r in history) == [(1, "live"), (2, "failed")], history
    actions = [e["action"] for e in cli("audit", "log", "--json").json]
    assert "deploy.create" in actions and "deploy.failed" in actions


def test_dry_run_kubernetes_without_json_prints_yaml_on_stdout_and_the_plan_on_stderr(
    cli, onnx_model, monkeypatch, tmp_path
):
    """What `kubectl apply -f -`, `kubectl diff -f -` and validators read: YAML, nothing else."""
    import yaml

    from tests.kubectl_standin import install

    standin = install(tmp_path / "bin", monkeypatch)  # a STAND-IN kubectl: must never be called
    args = ["deploy", "m:1", "--name", "web", "--target", "kubernetes", "--image", "registry.example/m:1"]
    result = cli(*args, "--namespace", "ml", "--dry-run")
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert {d["kind"] for d in docs} == {"Service", "Deployment"}
    assert all(d["metadata"]["namespace"] == "ml" for d in docs)
    assert "Plan for web revision 1" in result.stderr and "apply" in result.stderr
    assert '"yaml"' not in result.stderr
    as_json = cli(*args, "--namespace", "ml", "--dry-run", "--json")
    assert list(yaml.safe_load_all(as_json.json["plan"]["yaml"])) == docs
    assert standin.calls == []


def _stored_profile(store, confirmed: bool | None) -> dict:
    """A `profile` artifact as `mlops profile` stores it (--in-container sets `confirmed`)."""
    from mlops_cli.domain import ModelRef
    from mlops_cli.store import jobs

    recommendation = {
        "cpu": 1.5, "memory": "384Mi", "memory_bytes": 384 << 20, "threads": 2, "workers": 3,
        "max_batch_size": 16, "confirmed": confirmed, "concurrency": 4, "point": 1,
        "memory_headroom": 0.2, "cpu_basis": "measured", "providers": "CPUExecutionProvider",
    }  # fmt: skip
    details = {"recommendation": recommendation, "points": []}
    jobs.add_artifact(store.conn, ModelRef.parse("m:1"), "profile", "p", None, details, provenance())
    return recommendation


def test_only_a_confirmed_profile_sizes_a_deployment_and_brings_its_serving_settings(cli, onnx_model, store):
    _stored_profile(store, confirmed=None)
    unconfirmed = cli("deploy", "m:1", "--name", "web", "--dry-run", "--json")
    assert unconfirmed.exit_code == 0, unconfirmed.stderr
    resources = unconfirmed.json["resources"]
    assert (resources["cpu"], resources["memory"]) == (1.0, "512Mi")
    assert "not confirmed" in resources["note"] and "--in-container" in resources["note"]
    assert "--threads" not in unconfirmed.json["plan"]["argv"] and unconfirmed.json["plan"]["workers"] == 1
    rec = _stored_profile(store, confirmed=True)
    confirmed = cli("deploy", "m:1", "--name", "web", "--dry-run", "--json").json
    assert confirmed["resources"]["source"] == "cpu: profile, memory: profile"
    assert (confirmed["resources"]["cpu"], confirmed["resources"]["memory"]) == (rec["cpu"], rec["memory"])
    assert confirmed["resources"]["serving"] == {
        "workers": 3, "threads": 2, "batch_max_size": 16, "providers": "CPUExecutionProvider"
    }  # fmt: skip
    argv = confirmed["plan"]["argv"]
    assert argv[argv.index("--threads") + 1] == "2" and argv[argv.index("--batch-max-size") + 1] == "16"
    assert argv[argv.index("--providers") + 1] == "CPUExecutionProvider"  # what it was measured with
    assert confirmed["plan"]["workers"] == 3
    chosen = cli("deploy", "m:1", "--name", "web", "--replicas", "1", "--dry-run", "--json").json
    assert chosen["plan"]["workers"] == 1  # --replicas wins over the profile's workers
    k8s_args = ["--target", "kubernetes", "--image", "r.example/m:1", "--dry-run", "--json"]
    k8s = cli("deploy", "m:1", "--name", "web", *k8s_args).json["plan"]["yaml"]
    assert "--workers" in k8s and "--threads" in k8s


def test_a_deploy_while_another_holds_the_lock_exits_6_busy(cli, onnx_model, project):
    import fcntl

    folder = project / ".mlops" / "deployments" / "web"
    folder.mkdir(parents=True)
    with open(folder / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running deploy, rollback or delete of web holds
        result = cli("deploy", "m:1", "--name", "web", "--port", "9123")
    assert result.exit_code == 6, result.stderr
    assert _error_line(result).startswith("error: another deploy, rollback or delete of 'web' is running")
    assert cli("deploy", "list", "--json").json == []


def test_providers_reach_the_pods_server_and_are_checked_there(cli, onnx_model, monkeypatch, tmp_path):
    """A pod's onnxruntime decides (a GPU node can run what this machine cannot): the names are
    checked here, availability in the pod; the server arguments carry them in order."""
    import yaml

    from tests.kubectl_standin import install

    install(tmp_path / "bin", monkeypatch)  # a STAND-IN kubectl: --dry-run never calls it
    args = ["deploy", "m:1", "--name", "web", "--target", "kubernetes", "--image", "registry.example/m:1"]
    result = cli(*args, "--providers", "tensorrt,cuda,cpu", "--dry-run")
    assert result.exit_code == 0, result.stderr
    deployment = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    position = server.index("--providers")
    assert server[position + 1] == "TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider"
