"""`mlops deploy` input checks, dry runs and read-only commands, in-process (no server starts)."""

from __future__ import annotations

import importlib.util

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


@pytest.mark.skipif(
    importlib.util.find_spec("mlops_cli.targets.kubernetes") is not None,
    reason="the kubernetes target is here",
)
def test_kubernetes_without_its_module_says_so(cli, onnx_model):
    result = cli("deploy", "m:1", "--name", "web", "--target", "kubernetes", "--dry-run")
    assert result.exit_code == 1 and "kubernetes target is not part of this build" in _error_line(result)


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
