"""Entry scripts in their own environments: built from the pinned set, cached by its digest,
reused, and actually isolated (a package only the environment has is importable there only)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mlops_cli.environments.venvs import environment_for
from tests.deploy_helpers import mlops, mlops_json
from tests.entry import scripts
from tests.serving_helpers import make_project, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env_project(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("envs") / "project")
    # inference-schema pins wrapt<=1.16: it cannot live in the host's environment beside newer
    # packages, which is exactly what a version's own environment is for.
    scripts.register_script(project, "schema", scripts.SCHEMA, "inference-schema\n")
    scripts.register_script(project, "echo", scripts.ECHO, "inference-schema\n")
    return project


def test_built_once_reused_by_a_second_version_and_owner_only(env_project):
    envs = env_project / ".mlops" / "envs"
    first, second = (mlops_json(env_project, "models", "show", ref) for ref in ("schema", "echo"))
    lines: list[str] = []
    built = environment_for(envs, first["metadata"]["entry"], notify=lines.append)
    assert built is not None and built.built and lines and "building environment" in lines[0]
    assert stat.S_IMODE(envs.stat().st_mode) == 0o700
    reused = environment_for(envs, second["metadata"]["entry"], notify=lines.append)
    assert reused is not None and not reused.built and reused.python == built.python and len(lines) == 1
    assert environment_for(envs, first["metadata"]["entry"], env_manager="local") is None
    # The shared serving layer carries the bytecode of what a server imports before ready, so a
    # server that may not write bytecode does not compile numpy and uvicorn at every start.
    layer = next(envs.glob("serving-*"))
    assert any((layer / "numpy" / "__pycache__").glob("*.pyc"))
    assert any((layer / "uvicorn" / "__pycache__").glob("*.pyc"))


def test_served_in_its_environment_with_inference_schema(env_project):
    server = start_server(env_project, "schema", log_name="schema")
    try:
        with server.client() as client:
            answer = client.post("/score", json={"data": [1, 2.5]})
            assert answer.status_code == 200, answer.text
            assert answer.json() == [2, 5.0]  # run(data=...) as Azure calls a decorated run
    finally:
        server.stop()


def test_env_manager_local_runs_in_this_python(env_project):
    for args, inside in (((), True), (("--env-manager", "local"), False)):
        server = start_server(env_project, "echo", *args, log_name="echo")
        try:
            with server.client() as client:
                answer = client.post("/score", json={"a": 1}).json()
        finally:
            code = server.stop()
        assert code == 0  # SIGTERM: a graceful stop, also in the environment's Python (exec'd)
        assert answer["echo"] == '{"a":1}'
        assert (".mlops/envs/" in answer["python"]) is inside, answer
    done = mlops(env_project, "serve", "schema", "--env-manager", "conda", check=False)
    assert done.returncode == 2 and "--env-manager 'conda'" in done.stderr


def test_deploy_local_runs_in_the_environment(env_project):
    import httpx

    from tests.serving_helpers import free_port

    port = free_port()
    mlops(env_project, "deploy", "echo", "--name", "echo-env", "--port", port)
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/score", json={"b": 2}).json()
        assert answer["echo"] == '{"b":2}' and ".mlops/envs/" in answer["python"]
    finally:
        mlops(env_project, "deploy", "delete", "echo-env", check=False)


def _staging(project: Path) -> list[Path]:
    envs = project / ".mlops" / "envs"
    return sorted(envs.glob(".*")) if envs.is_dir() else []


def _serve_until_building(project: Path, ref: str):
    import os
    import subprocess
    import sys
    import time

    from tests.serving_helpers import free_port

    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "serve", ref, "--port", str(free_port())],
        cwd=project,
        env={**os.environ, "MLOPS_ACTOR": "tester@example.com"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while not [p for p in _staging(project) if p.name.endswith(f".{process.pid}")]:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no build started"
        time.sleep(0.05)
    time.sleep(0.05)  # the build is under way (longer, and a quick build can finish: CI saw it)
    return process


def test_a_killed_or_terminated_build_leaves_nothing_and_the_next_one_works(tmp_path):
    import signal

    project = make_project(tmp_path / "project")
    scripts.register_script(project, "echo", scripts.ECHO, "six\n")

    killed = _serve_until_building(project, "echo")
    killed.kill()
    killed.wait(30)
    assert _staging(project)  # a kill -9 cannot clean up: the next build must

    terminated = _serve_until_building(project, "echo")
    terminated.send_signal(signal.SIGTERM)
    assert terminated.wait(60) == 143
    assert _staging(project) == []  # its own staging removed, and the dead build's swept

    server = start_server(project, "echo", log_name="after-kill")
    try:
        with server.client() as client:
            assert ".mlops/envs/" in client.post("/score", json={}).json()["python"]
    finally:
        server.stop()
    assert _staging(project) == []
