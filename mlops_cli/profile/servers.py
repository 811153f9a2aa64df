"""The servers a profile measures: a real `mlops serve` process, or the packaged image in Docker.

Both listen on 127.0.0.1 on a free port and are ready when `/v2/health/ready` answers 200.
`pid` is the process whose tree is measured (for a container, its init process as the host
sees it: the same kernel, so psutil reads its RSS and CPU time like any local process).
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops_cli.errors import ExternalToolError, MlopsError

READY_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/v2/health/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class LocalServer:
    """`mlops serve REF --port P --workers W` as a child process, its log in `log`."""

    cpu_limit: float | None = None

    def __init__(
        self, store_root: Path, ref: str, workers: int, log_dir: Path, providers: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"profile-serve-{os.getpid()}-{self.port}.log"
        argv = [sys.executable, "-m", "mlops_cli", "serve", ref, "--port", str(self.port)]
        argv += ["--workers", str(workers), "--store", str(store_root)]
        argv += ["--providers", ",".join(providers)] if providers else []
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self._log_tail()
                self.close()
                raise MlopsError(f"`mlops serve {ref}` did not become ready: {tail}")
            time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.unlink(missing_ok=True)


class ContainerServer:
    """The packaged image under Docker, host network, `--cpus` and optionally a memory limit."""

    def __init__(
        self,
        image: str,
        workers: int,
        cpus: float | None,
        memory_bytes: int | None = None,
        providers: tuple[str, ...] = (),
    ) -> None:
        from mlops_cli.targets import docker

        self.cpu_limit = cpus
        self.memory_limit = memory_bytes
        self.port = free_port()
        self.container: Any = docker.run_detached(
            image,
            name=f"mlops-profile-{os.getpid()}-{secrets.token_hex(4)}",
            command=[
                "--host",
                "127.0.0.1",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                *(["--providers", ",".join(providers)] if providers else []),
            ],  # fmt: skip
            environment={"PORT": str(self.port)},
            cpus=cpus,
            memory_bytes=memory_bytes,
            labels={"mlops.profile": "1"},
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not _ready(self.port):
                state = docker.container_state(self.container)
                if not state.get("Running") or time.monotonic() > deadline:
                    logs = docker.container_logs(self.container).strip().splitlines()
                    raise ExternalToolError(
                        f"the container from {image} did not become ready"
                        + (" (killed: out of memory)" if state.get("OOMKilled") else "")
                        + (f": {logs[-1]}" if logs else "")
                    )
                time.sleep(0.1)
            self.pid = int(docker.container_state(self.container)["Pid"])
        except BaseException:
            docker.remove_container(self.container)
            raise

    def oom_killed(self) -> bool:
        from mlops_cli.targets import docker

        return bool(docker.container_state(self.container).get("OOMKilled"))

    def close(self) -> None:
        from mlops_cli.targets import docker

        docker.remove_container(self.container)
