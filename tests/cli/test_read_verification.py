"""Reads check what they hand out: a version whose rows were edited to point at another
model's blob is refused (exit 5) by every command that uses its files, and nothing is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_helpers import FEATURES, forest_onnx, logistic_onnx, register_onnx


def swap_files(project: Path, victim: str, donor: str, *, version_digest_too: bool = False) -> None:
    """What an attacker with sqlite3 does: point `victim`'s file row at `donor`'s blob."""

    def version_id(ref: str) -> str:
        name, number = ref.split(":")
        return (
            "(SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id"
            f" WHERE m.name = '{name}' AND v.version = {number})"
        )

    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.execute(
        f"UPDATE files SET digest = (SELECT digest FROM files WHERE version_id = {version_id(donor)}),"
        f" size = (SELECT size FROM files WHERE version_id = {version_id(donor)})"
        f" WHERE version_id = {version_id(victim)}"
    )
    if version_digest_too:
        conn.execute(
            f"UPDATE versions SET digest = (SELECT digest FROM versions WHERE id = {version_id(donor)})"
            f" WHERE id = {version_id(victim)}"
        )
    conn.commit()
    conn.close()


@pytest.fixture
def swapped(store, project, request):
    register_onnx(store, logistic_onnx(project), "clf")
    register_onnx(store, forest_onnx(project), "other")
    swap_files(project, "clf:1", "other:1", version_digest_too=getattr(request, "param", False))
    return project


def _refused(result) -> str:
    assert result.exit_code == 5, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("swapped", [False, True], indirect=True, ids=["files", "files+version-digest"])
def test_download_of_a_swapped_digest_writes_nothing(cli, swapped):
    out = swapped / "out"
    line = _refused(cli("models", "download", "clf:1", "--output", out))
    assert "does not match its registration" in line
    assert not out.exists()
    assert not list(swapped.glob(".out.mlops-download-*"))


def test_score_batch_refuses_a_swapped_digest(cli, swapped):
    table = swapped / "in.csv"
    rows = np.random.default_rng(0).normal(size=(5, len(FEATURES)))
    table.write_text(",".join(FEATURES) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    out = swapped / "scores.parquet"
    _refused(cli("score-batch", "clf:1", "-i", table, "-o", out))
    assert not out.exists()


def test_serve_refuses_a_swapped_digest(cli, swapped):
    import socket

    with socket.socket() as probe:  # a free port; the check fails before anything listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _refused(cli("serve", "clf:1", "--port", str(port)))


def test_package_refuses_a_swapped_digest_before_docker(cli, swapped):
    context = swapped / "ctx"
    _refused(cli("package", "clf:1", "--no-build", "--output-dir", context))
    assert not context.exists() or not any(context.iterdir())


def test_convert_refuses_a_swapped_digest_before_loading(cli, project, model_file):
    other = project / "other.bin"
    other.write_bytes(b"x" * 100)
    assert cli("register", model_file, "--name", "src", "--framework", "sklearn").exit_code == 0
    assert cli("register", other, "--name", "donor").exit_code == 0
    swap_files(project, "src:1", "donor:1")
    assert "does not match its registration" in _refused(cli("convert", "src:1"))
    assert [v["version"] for v in cli("models", "versions", "src", "--json").json] == [1]


def test_an_intact_version_is_still_served_from_its_verified_cache(cli, store, project):
    register_onnx(store, logistic_onnx(project), "clf")
    out = project / "out"
    assert cli("models", "download", "clf:1", "--output", out).exit_code == 0
    assert (out / "logistic.onnx").read_bytes() == (project / "logistic.onnx").read_bytes()
