"""The one S3-compatible server for tests: moto's server mode on 127.0.0.1, one per session.

Used by score-batch's and push/pull's tests alike. Skipped when moto is not installed;
MLOPS_REQUIRE_S3=1 (as in CI) turns that skip into a failure. `s3` points AWS_ENDPOINT_URL and
dummy credentials at the server for one test and gives a fresh bucket; `moto_server.env` and
`.new_bucket()` serve tests that start subprocesses of their own. The CLI reaches the server
through mlops_cli/storage/ (fsspec/s3fs) like any user's S3.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_server() -> str:
    found = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(found).exists():
        if os.environ.get("MLOPS_REQUIRE_S3") == "1":
            pytest.fail("MLOPS_REQUIRE_S3=1 but moto_server (pip install 'moto[server]') is missing")
        pytest.skip("moto[server] is not installed")
    return found


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        """What a client needs: the endpoint and dummy credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_bucket(self) -> str:
        import boto3

        name = f"mlops-{secrets.token_hex(4)}"
        env = self.env
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        ).create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_moto(log: Path, *, require_auth: bool = False) -> MotoServer:
    """Start moto_server on a free port of 127.0.0.1 and wait until it answers."""
    port = free_port()
    env = dict(os.environ)
    if require_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # every request's credentials are checked
    with open(log, "wb") as sink:
        argv = [_moto_server(), "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return MotoServer(f"http://127.0.0.1:{port}", process)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")


def use_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point fsspec/s3fs (and boto) at `endpoint` with dummy credentials, forgetting old clients."""
    for key, value in MotoServer(endpoint, None).env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@dataclass
class Bucket:
    name: str
    fs: object  # s3fs.S3FileSystem

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def put(self, local: Path, key: str) -> str:
        self.fs.put_file(str(local), f"{self.name}/{key}")
        return self.url(key)

    def get(self, key: str, local: Path) -> Path:
        self.fs.invalidate_cache()
        self.fs.get_file(f"{self.name}/{key}", str(local))
        return local

    def keys(self) -> list[str]:  # every key of the bucket
        self.fs.invalidate_cache()
        return sorted(p.split("/", 1)[1] for p in self.fs.find(self.name))


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> MotoServer:
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3(moto_server, monkeypatch) -> Bucket:
    """A fresh bucket on the session's moto server, with the environment pointing at it."""
    use_endpoint(monkeypatch, moto_server.endpoint)
    import s3fs

    fs = s3fs.S3FileSystem()
    name = f"mlops-{secrets.token_hex(4)}"
    fs.mkdir(name)
    return Bucket(name, fs)
