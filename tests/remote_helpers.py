"""An S3-compatible server on 127.0.0.1 (moto's server mode) for the remote tests.

Skipped where moto is not installed, unless MLOPS_REQUIRE_S3=1 (set by .ci/run) makes that a
failure: CI must exercise the real S3 protocol, conditional writes included.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving_helpers import free_port


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]  # what a client needs: endpoint and dummy credentials

    def new_bucket(self) -> str:
        import boto3

        name = f"mlops-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials(self.env)).create_bucket(
            Bucket=name
        )
        return name


def _boto_credentials(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def moto_server_command() -> str | None:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else shutil.which("moto_server")


def start_s3(log: Path) -> Iterator[S3Server]:
    """Start `moto_server -H 127.0.0.1 -p PORT`; yield once it answers; stop it afterwards."""
    command = moto_server_command()
    if command is None:
        if os.environ.get("MLOPS_REQUIRE_S3") == "1":
            pytest.fail("moto_server is not installed and MLOPS_REQUIRE_S3=1")
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([command, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"moto_server did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        yield S3Server(
            endpoint,
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def ok(result):
    """A CliRunner result that must have succeeded (its stderr shown otherwise)."""
    assert result.exit_code == 0, result.stderr
    return result


def register_random(
    cli, path: Path, name: str = "churn", store: Path | None = None, size: int = 4096
) -> dict:
    """`mlops register` of `size` random bytes written to `path`; the version as --json shows it."""
    path.write_bytes(os.urandom(size))
    extra = ["--store", store] if store else []
    return ok(cli("register", path, "--name", name, "--json", *extra)).json
