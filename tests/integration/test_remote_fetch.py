"""A fresh store whose default remote holds a version it lacks: score-batch, serve and deploy
fetch it (and say so in one stderr line), then run it as if it had been registered here."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.deploy_helpers import BODY, mlops
from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx
from tests.serving_helpers import free_port, make_project, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> tuple[Path, str]:
    """A folder remote holding `clf:1` (an ONNX classifier) and its digest."""
    from mlops_cli.remote.config import add_remote
    from mlops_cli.remote.push import push
    from mlops_cli.store import open_store

    root = tmp_path_factory.mktemp("fetch")
    project = make_project(root / "publisher")
    store = open_store(project)
    try:
        digest = register_onnx(store, logistic_onnx(project), "clf").digest
        add_remote(store, "team", str(root / "remote"))
        push(store, ["clf:1"])
    finally:
        store.close()
    return root / "remote", digest


def fresh(folder: Path, remote_dir: Path) -> Path:
    project = make_project(folder)
    mlops(project, "remote", "add", "team", remote_dir, "--default")
    return project


def test_score_batch_fetches_from_the_default_remote(remote, tmp_path):
    remote_dir, digest = remote
    project = fresh(tmp_path / "batch", remote_dir)
    rows = np.random.default_rng(0).normal(size=(20, len(FEATURES)))
    data = project / "in.csv"
    data.write_text(",".join(FEATURES) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    done = mlops(project, "score-batch", "clf:1", "--input", data, "--output", project / "out.csv", "--json")
    assert done.stderr.splitlines()[0].startswith("fetched clf:1 from remote 'team'"), done.stderr
    assert json.loads(done.stdout)["details"]["rows_scored"] == 20
    shown = json.loads(mlops(project, "models", "show", "clf:1", "--json").stdout)
    assert shown["digest"] == digest
    assert mlops(project, "audit", "verify").returncode == 0
    # local first: the second run finds it here and says nothing about remotes
    again = mlops(project, "score-batch", "clf:1", "--input", data, "--output", project / "out2.csv")
    assert "fetched" not in again.stderr


def test_an_unknown_ref_names_the_remote_too(remote, tmp_path):
    project = fresh(tmp_path / "unknown", remote[0])
    done = mlops(project, "score-batch", "clf:9", "--input", "x.csv", "--output", "o.csv", check=False)
    assert done.returncode == 1 and "or on the default remote 'team'" in done.stderr, done.stderr


def test_an_unreadable_default_remote_says_the_ref_is_not_here(remote, tmp_path):
    """A remote that cannot be read (here a share that is not mounted: exit 4) keeps its exit
    code, and the line says why a remote was asked at all."""
    project = fresh(tmp_path / "unmounted", remote[0])
    mlops(project, "remote", "add", "gone", tmp_path / "not-mounted", "--default")
    done = mlops(project, "serve", "clf:1", "--port", str(free_port()), check=False)
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: clf:1 is not in this store and the default remote 'gone'"
    )
    assert "Traceback" not in done.stderr


def test_serve_and_deploy_fetch_from_the_default_remote(remote, tmp_path):
    remote_dir, _ = remote
    project = fresh(tmp_path / "serve", remote_dir)
    server = start_server(project, "clf")
    try:
        assert server.log.read_text().startswith("fetched clf:1 from remote 'team'")
        assert httpx.post(f"{server.url}/v2/models/clf/infer", json=BODY, timeout=10).status_code == 200
    finally:
        server.stop()

    project = fresh(tmp_path / "deploy", remote_dir)
    port = free_port()
    done = mlops(project, "deploy", "clf:1", "--name", "fetched", "--target", "local", "--port", port)
    try:
        assert "fetched clf:1 from remote 'team'" in done.stderr
        assert (
            httpx.post(f"http://127.0.0.1:{port}/v2/models/clf/infer", json=BODY, timeout=10).status_code
            == 200
        )
    finally:
        mlops(project, "deploy", "delete", "fetched", "--purge", check=False)
