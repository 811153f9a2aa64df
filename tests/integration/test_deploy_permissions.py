"""Another local user can neither reach a deployment's control socket nor write into its folder.

The test creates a real second user (useradd; needs root) and acts as it with setpriv. Every
folder above the deployment's own is opened (0755) first, so only the deployment's modes and the
control socket's peer-credential check stand in the way. Skipped when not root.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.deploy_helpers import deploy_project, mlops, server_pids
from tests.serving_helpers import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.getuid() != 0 or not shutil.which("useradd"), reason="needs root and useradd"),
]

# The system's Python: the other user must be able to run it (a venv's or pyenv's interpreter
# under /root is not reachable for them); the scripts need only the standard library.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
CONNECT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.settimeout(10)
    s.connect(sys.argv[1])
    try:
        s.sendall(sys.argv[2].encode() + b"\\n")
    except BrokenPipeError:
        pass  # the server may refuse (and close) before reading the command
    print(json.dumps({"answer": s.recv(4096).decode()}))
except OSError as exc:
    print(json.dumps({"error": type(exc).__name__}))
"""
WRITE = """
import json, sys
try:
    open(sys.argv[1], "w").write("x")
    print(json.dumps({"wrote": True}))
except OSError as exc:
    print(json.dumps({"error": type(exc).__name__}))
"""


@pytest.fixture(scope="module")
def other_user():
    name = f"mlops-other-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        import pwd

        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture(scope="module")
def project():
    """A project in a folder every user may enter (pytest's own tmp folder is root's only)."""
    top = Path(tempfile.mkdtemp(prefix="mlops-perms-"))
    try:
        os.chmod(top, 0o755)
        project = deploy_project(top / "project")
        for folder in (project, project / ".mlops"):
            os.chmod(folder, 0o755)
        yield project
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _as(user: tuple[int, int], script: str, *args: str) -> dict:
    uid, gid = user
    done = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", PYTHON, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_another_user_cannot_reach_the_control_socket_or_write_into_the_folder(project, other_user):
    port, name = free_port(), "perms"
    mlops(project, "deploy", "m:1", "--name", name, "--port", port, "--collect")
    try:
        os.chmod(project / ".mlops" / "deployments", 0o755)
        folder = project / ".mlops" / "deployments" / name
        control = Path(os.path.realpath(folder / "run")) / "r1.control.sock"
        link = next(Path("/tmp").glob("mlops-run-*/r1.control.sock"), None)
        assert stat.S_IMODE(control.stat().st_mode) == 0o600
        for part in ("", "run", "logs", "collected", "procs"):
            assert stat.S_IMODE((folder / part).stat().st_mode) == 0o700, part
        assert _as(other_user, CONNECT, str(control), "status") == {"error": "PermissionError"}
        if link is not None and os.path.realpath(link) == str(control):
            assert _as(other_user, CONNECT, str(link), "stop") == {"error": "PermissionError"}
        for part in ("", "collected", "run"):
            target = str(folder / part / "planted.parquet")
            assert _as(other_user, WRITE, target) == {"error": "PermissionError"}, part
        # Even with every mode opened by mistake, the server refuses another uid's commands.
        opened = [folder, folder / "run", control]
        for path in opened:
            os.chmod(path, 0o777)
        answer = _as(other_user, CONNECT, str(control), "stop")
        assert json.loads(answer["answer"]) == {"ok": False, "error": "permission denied"}
        for path in opened:
            os.chmod(path, 0o700)
        assert len(server_pids(project, name)) == 1
        assert mlops(project, "deploy", "status", name, check=False).returncode == 0
    finally:
        mlops(project, "deploy", "delete", name, "--purge", check=False)
    assert server_pids(project, name) == []
