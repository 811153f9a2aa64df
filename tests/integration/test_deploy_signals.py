"""SIGINT, SIGTERM and kill -9 sent to `mlops deploy` across a switch, with an idle keep-alive
connection open (so the old revision drains for its whole drain time).

Moments are anchored to what the switch is doing, read from the revisions' logs (the load on a
shared machine moves absolute times by seconds): after the new revision's log appears (start-up),
after it is ready on its gate (the smoke inference and the takeover), and after the old revision
logged the hand-over (records, then the drain). After each signal exactly one process listens on
the port, `deploy status` names it and its revision, the records agree with the command's exit
code and message, and (at the end) `deploy delete` leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.deploy_helpers import deploy_project, listening_pids, mlops, mlops_json, server_pids
from tests.serving_helpers import ACTOR, free_port

pytestmark = pytest.mark.integration

# (event, seconds after it): "log" = the new revision's log file exists, "gate" = it is ready on
# its gate socket, "handed" = the old revision logged that it handed the listener over.
EVERY_MOMENT = [
    ("log", 0.0), ("log", 0.3), ("log", 0.6), ("gate", 0.0), ("gate", 0.02), ("gate", 0.05),
    ("gate", 0.1), ("gate", 0.2), ("handed", 0.0), ("handed", 0.05), ("handed", 0.1), ("handed", 0.2),
    ("handed", 0.4), ("handed", 0.7), ("handed", 1.0), ("handed", 1.5), ("handed", 2.0),
    ("handed", 2.5), ("handed", 3.0), ("handed", 3.5),
]  # fmt: skip
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}
LAST_LINES = {signal.SIGINT: "error: interrupted", signal.SIGTERM: "error: terminated"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return deploy_project(tmp_path_factory.mktemp("deploy-signals") / "project")


def _idle_keep_alive(port: int) -> socket.socket:
    """A connection that made one request and then waits: the old revision must drain it."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: test\r\n\r\n")
    assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    return conn


def _happened(folder: Path, new: int, old: int, event: str) -> bool:
    def text(revision: int) -> str:
        try:
            return (folder / "logs" / f"r{revision}.log").read_text(errors="replace")
        except OSError:
            return ""

    if event == "log":
        return (folder / "logs" / f"r{new}.log").exists()
    if event == "gate":
        return "ready on the gate socket" in text(new)
    return "listener handed over" in text(old)


def _switch_and_signal(project: Path, name: str, ref: str, sig: int, event: str, delay: float) -> tuple:
    """Run `mlops deploy REF --name NAME` (REF: one or several, space-separated), send `sig`
    `delay` s after `event`; (code, stderr, new)."""
    folder = project / ".mlops" / "deployments" / name
    old = mlops_json(project, "deploy", "status", name)["revision"]
    new = max(r["revision"] for r in mlops_json(project, "deploy", "history", name)) + 1
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "deploy", *ref.split(), "--name", name],
        cwd=project,
        env={**os.environ, "MLOPS_ACTOR": ACTOR},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and not _happened(folder, new, old, event) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr, new


def _check_consistent(
    project: Path, name: str, port: int, sig: int, code: int, stderr: str, new: int
) -> None:
    running_before = set(server_pids(project, name))
    status = mlops_json(project, "deploy", "status", name)  # a killed deployer is recovered here
    # an old revision still draining is named by status too, never the one that serves
    others = {o["pid"] for o in status["info"].get("other_processes", [])}
    assert not others & set(status["info"]["pids"]) and others <= running_before, status
    history = {r["revision"]: r for r in mlops_json(project, "deploy", "history", name)}
    attempt = history.get(new)
    if code == 0:
        assert attempt and attempt["outcome"] == "live", (stderr, attempt)
    elif sig != signal.SIGKILL:
        assert code == EXIT_CODES[sig], stderr
        assert stderr.strip().splitlines()[-1] == LAST_LINES[sig], stderr
        assert attempt and attempt["outcome"] == "failed", (stderr, attempt)
    serving = [r for r in history.values() if r["outcome"] == "live"]
    assert len(serving) == 1, history
    # the old revision drains (at most its drain time and a margin), then one process is left
    deadline = time.monotonic() + 40
    while len(server_pids(project, name)) > 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    listeners = listening_pids(port)
    outcomes = [(r["revision"], r["outcome"], r["detail"]) for r in history.values()]
    logs = project / ".mlops" / "deployments" / name / "logs"
    tails = {p.name: p.read_text(errors="replace").splitlines()[-6:] for p in sorted(logs.glob("r*.log"))}
    seen = (code, stderr[-300:], outcomes, listeners, server_pids(project, name), tails)
    assert len(listeners) == 1 and server_pids(project, name) == listeners, seen
    assert status["ready"] and status["revision"] == serving[0]["revision"], (status, history)
    assert status["info"]["pids"] == listeners, status


def _series(project: Path, name: str, sig: int, moments: list[tuple[str, float]]) -> None:
    port = free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    try:
        for index, (event, delay) in enumerate(moments):
            with _idle_keep_alive(port):
                code, stderr, new = _switch_and_signal(project, name, f"m:{2 - index % 2}", sig, event, delay)
                _check_consistent(project, name, port, sig, code, stderr, new)
    finally:
        mlops(project, "deploy", "delete", name, check=False)
    assert server_pids(project, name) == [] and listening_pids(port) == []


def test_sigint_and_sigterm_at_the_commit_point_leave_records_that_match(project):
    moments = {
        signal.SIGINT: [("gate", 0.02), ("handed", 0.0)],
        signal.SIGTERM: [("handed", 0.0), ("handed", 1.0)],
    }
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(_series, project, f"quick-{sig.name.lower()}", sig, at) for sig, at in moments.items()
        ]
        for run in runs:
            run.result()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_at_twenty_moments_of_a_switch_never_leaves_an_orphan(project, sig):
    _series(project, f"every-{sig.name.lower()}", sig, EVERY_MOMENT)


@pytest.mark.slow
def test_kill_9_of_the_deployer_is_recovered_by_the_next_command(project):
    _series(
        project, "killed", signal.SIGKILL, [("log", 0.3), ("gate", 0.05), ("handed", 0.0), ("handed", 1.0)]
    )


@pytest.mark.slow
def test_a_set_of_versions_signalled_or_killed_mid_switch_leaves_records_that_match(project):
    """A multi-model revision goes through the same commit point: after SIGTERM, kill -9 and
    SIGINT at three moments, one revision serves, the records say which, and every version it
    lists answers at its own path."""
    import httpx

    from tests.deploy_helpers import BODY

    name, port = "set-signals", free_port()
    mlops(project, "deploy", "m:1", "m:2", "--name", name, "--port", port)
    try:
        moments = [
            (signal.SIGTERM, "handed", 0.0, "m:1"),
            (signal.SIGKILL, "gate", 0.05, "m:1 m:2"),
            (signal.SIGINT, "gate", 0.02, "m:2 m:1"),
        ]
        for sig, event, delay, refs in moments:
            with _idle_keep_alive(port):
                code, stderr, new = _switch_and_signal(project, name, refs, sig, event, delay)
                _check_consistent(project, name, port, sig, code, stderr, new)
            served = mlops_json(project, "deploy", "status", name)["models"]
            for ref in served:
                version = ref.split(":")[1]
                url = f"http://127.0.0.1:{port}/v2/models/m/versions/{version}/infer"
                assert httpx.post(url, json=BODY, timeout=10).json()["model_version"] == version
    finally:
        mlops(project, "deploy", "delete", name, check=False)
    assert server_pids(project, name) == [] and listening_pids(port) == []
