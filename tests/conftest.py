"""Every test runs in its own temporary project with an initialised store."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_cli.audit.provenance import current_actor
from mlops_cli.cli.app import app

TEST_ACTOR = "tester@example.com"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project folder as the cwd, with `.mlops/` initialised and a fixed actor."""
    monkeypatch.delenv("MLOPS_STORE", raising=False)
    monkeypatch.delenv("MLOPS_DEBUG", raising=False)
    monkeypatch.setenv("MLOPS_ACTOR", TEST_ACTOR)
    current_actor.cache_clear()
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store import init_store

    store, _ = init_store(folder, provenance())
    store.close()
    return folder


@pytest.fixture
def cli():
    """Run `mlops ARGS...` in-process; returns exit code, stdout and stderr separately."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], input=input, prog_name="mlops")
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def store(project: Path):
    from mlops_cli.store import open_store

    opened = open_store()
    yield opened
    opened.close()


@pytest.fixture
def model_file(project: Path) -> Path:
    """A small file standing in for a model where the format does not matter."""
    path = project / "model.bin"
    path.write_bytes(os.urandom(2048))
    return path
