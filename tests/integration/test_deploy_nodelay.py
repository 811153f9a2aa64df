"""TCP_NODELAY on every server socket, however the listener was made: bound by a created
revision, received over SCM_RIGHTS by a switched one, bound again by a restarted one.

Without it a small keep-alive response waits for the client's delayed ACK (Nagle): 23 requests/s
instead of thousands. The flag is read back from the server process's own end of a connection.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy_helpers import deploy_project, listening_pids, mlops, server_side_nodelay
from tests.serving_helpers import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.getuid() != 0, reason="reading another process's socket needs ptrace rights"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return deploy_project(tmp_path_factory.mktemp("deploy-nodelay") / "project")


def _nodelay_of_server(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: test\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        (pid,) = listening_pids(port)
        return server_side_nodelay(pid, conn)


def _wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not listening_pids(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_created_switched_and_rebound_revisions_set_tcp_nodelay(project):
    port, name = free_port(), "nodelay"
    mlops(project, "deploy", "m:1", "--name", name, "--port", port)
    restarted = None
    try:
        assert _nodelay_of_server(port) == 1, "created"
        mlops(project, "deploy", "m:2", "--name", name)
        assert _nodelay_of_server(port) == 1, "switched"
        # What Docker's restart policy does after a crash: the same argv again, which finds its
        # start marker and binds the port itself.
        (pid,) = listening_pids(port)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        folder = project / ".mlops" / "deployments" / name
        restarted = subprocess.Popen(argv, cwd=folder, start_new_session=True)
        _wait_listening(port)
        assert listening_pids(port) == [restarted.pid]
        assert _nodelay_of_server(port) == 1, "re-bound"
    finally:
        if restarted is not None:
            restarted.terminate()
            restarted.wait(30)
        mlops(project, "deploy", "delete", name, check=False)
