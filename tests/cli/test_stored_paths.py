"""A stored file path that is not a plain relative path is refused wherever one is read or
written: register, recover, download, the runtime loader (serve, package, profile), the
serving bundle. A crafted record must never make a command write outside its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_cli.domain import FileEntry, Manifest
from mlops_cli.errors import IntegrityError
from mlops_cli.relpaths import path_problem

UNSAFE = [
    "../escape.bin",
    "a/../../escape.bin",
    "/etc/passwd",
    "C:/evil.bin",
    "c:evil",
    "a\\b",
    "a//b",
    "./a",
    "",
]


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_paths_have_a_problem(path):
    assert path_problem(path) is not None


@pytest.mark.parametrize("path", ["model.onnx", "sub/dir/model.onnx", "a..b", ".hidden", "ab:c"])
def test_plain_relative_paths_pass(path):
    assert path_problem(path) is None


def _craft_record(project: Path, ref: str, path: str) -> None:
    """Rewrite a version record as an attacker would: the new path, a digest that matches it."""
    name, number = ref.split(":")
    record_file = project / ".mlops" / "records" / name / f"{number}.json"
    record_file.chmod(0o644)
    record = json.loads(record_file.read_text())
    record["files"][0][0] = path
    record["digest"] = Manifest(tuple(FileEntry(*f) for f in record["files"])).digest
    record_file.write_text(json.dumps(record))
    (project / ".mlops" / "mlops.db").unlink()  # so recover trusts the record


def _rescued(cli, project: Path, *args: str):
    return cli(*args, "--store", project.parent / "rescued")


@pytest.mark.parametrize("bad", ["../../escape.bin", "/tmp/mlops-escape-test.bin"])
def test_recover_refuses_a_crafted_record_and_download_never_writes_outside(cli, project, model_file, bad):
    assert cli("register", model_file, "--name", "m").exit_code == 0
    assert cli("register", model_file, "--name", "good").exit_code == 0
    _craft_record(project, "m:1", bad)
    result = cli("audit", "recover", "--output", project.parent / "rescued", "--json")
    assert result.exit_code == 0, result.stderr
    assert "m:1" in result.json["lost"] and "unsafe" in result.json["lost"]["m:1"]
    assert "good:1" in result.json["versions"]
    out = project / "out"
    assert _rescued(cli, project, "models", "download", "m:1", "--output", out).exit_code == 1
    assert not (project.parent / "escape.bin").exists() and not Path(bad).exists()


def test_download_and_the_runtime_loader_refuse_an_unsafe_path_that_reached_the_store(
    cli, project, store, monkeypatch
):
    """An older recover (or any writer) let the path in: the readers still refuse it."""
    from mlops_cli.audit import recover
    from mlops_cli.runtime.loader import resolve_onnx
    from mlops_cli.store import open_store
    from tests.onnx_helpers import logistic_onnx, register_onnx

    register_onnx(store, logistic_onnx(project), "m")
    store.close()
    _craft_record(project, "m:1", "../../escape.onnx")
    monkeypatch.setattr(recover, "path_problem", lambda path: None)
    assert cli("audit", "recover", "--output", project.parent / "rescued").exit_code == 0
    out = project / "out"
    result = _rescued(cli, project, "models", "download", "m:1", "--output", out)
    assert result.exit_code == 5, result.stderr
    assert "unsafe file path '../../escape.onnx'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project.parent / "escape.onnx").exists() and not out.exists()
    rescued = open_store(project.parent / "rescued")
    try:  # what serve, package, profile, monitor and score-batch load through
        with pytest.raises(IntegrityError, match="unsafe file path"):
            resolve_onnx(rescued, "m:1")
    finally:
        rescued.close()
    assert list(project.parent.glob("escape*")) == []


def test_register_refuses_a_file_name_that_cannot_be_stored(cli, project):
    weird = project / "model\\v1.bin"
    weird.write_bytes(b"weights")
    result = cli("register", weird, "--name", "m")
    assert result.exit_code == 2 and "cannot be stored (it holds a backslash)" in result.stderr
    assert cli("models", "list", "--json").json == []


def test_a_bundle_naming_a_model_file_outside_its_root_is_refused(tmp_path):
    from mlops_cli.serving.bundle import BUNDLE_FILE, read_bundle

    (tmp_path / BUNDLE_FILE).write_text(
        json.dumps({"name": "m", "version": 1, "digest": "sha256:00", "model_file": "../../etc/model.onnx"})
    )
    with pytest.raises(ValueError, match="not a plain relative path"):
        read_bundle(tmp_path)
