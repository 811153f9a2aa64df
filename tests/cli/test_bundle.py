"""`mlops package --format bundle` and `mlops bundle verify`: a deterministic archive that serves
without Docker, checked byte for byte without a store; tampered bundles exit 5."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_no_telemetry import CI_MARKERS, left_behind
from tests.onnx_helpers import direct_run, logistic_onnx, register_onnx, training_data
from tests.serving_helpers import Server, free_port, infer_body, wait_ready


@pytest.fixture
def onnx_model(store, project: Path) -> Path:
    path = logistic_onnx(project)
    register_onnx(store, path, "clf")
    return path


def _bundle(cli, path: Path, *extra: str) -> dict:
    result = cli("package", "clf:1", "--format", "bundle", "--output", path, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def _rewrite(source: Path, target: Path, change) -> None:
    """A copy of the bundle with `change(members)` applied (members: name -> bytes)."""
    members = _members(source)
    change(members)
    with tarfile.open(target, "w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_bundle_is_deterministic_and_records_an_artifact(cli, onnx_model, project):
    first = _bundle(cli, project / "a.tar.gz")
    second = _bundle(cli, project / "b.tar.gz")
    assert (project / "a.tar.gz").read_bytes() == (project / "b.tar.gz").read_bytes()
    assert first["sha256"] == second["sha256"]
    assert first["ref"] == "clf:1" and first["format"] == "bundle" and first["wheels"] is False
    members = _members(project / "a.tar.gz")
    assert {"manifest.json", "audit.json", "serve.sh", "install.sh", "requirements.txt"} <= set(members)
    assert members["model/logistic.onnx"] == onnx_model.read_bytes()
    assert "app/mlops_cli/serving/server.py" in members
    assert not any(name.startswith("app/mlops_cli/store") for name in members)  # serving code only
    with tarfile.open(project / "a.tar.gz", "r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, "", "")}
    assert len({i.mtime for i in infos}) == 1
    raw = (project / "a.tar.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0" and gzip.decompress(raw)  # gzip header mtime 0, a real stream
    shown = cli("models", "show", "clf:1", "--json").json
    assert [a["kind"] for a in shown["artifacts"]].count("bundle") == 2


def test_verify_passes_outside_any_store(cli, onnx_model, project, tmp_path, monkeypatch):
    _bundle(cli, project / "m.tar.gz")
    elsewhere = tmp_path / "device"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("bundle", "verify", project / "m.tar.gz", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["ok"] is True and result.json["ref"] == "clf:1"
    assert result.json["files"] > 10 and result.json["problems"] == []


def _flip_model_byte(members):
    data = bytearray(members["model/logistic.onnx"])
    data[len(data) // 2] ^= 1
    members["model/logistic.onnx"] = bytes(data)


def _resync_manifest(members):
    """A forger's manifest: every entry's digest recomputed for the changed members."""
    manifest = json.loads(members["manifest.json"])
    manifest["entries"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in members.items()
        if name != "manifest.json"
    }
    members["manifest.json"] = json.dumps(manifest).encode()


def _consistent_forgery(members):
    """Change the model and rewrite the manifest and version digest to match: only the audit
    record can tell."""
    from mlops_cli.domain import FileEntry, Manifest

    _flip_model_byte(members)
    _resync_manifest(members)
    manifest = json.loads(members["manifest.json"])
    files = manifest["version"]["files"]
    files[0]["digest"] = "sha256:" + hashlib.sha256(members["model/logistic.onnx"]).hexdigest()
    entries = tuple(FileEntry(f["path"], f["size"], int(f["mode"], 8), f["digest"]) for f in files)
    manifest["version"]["digest"] = Manifest(entries).digest
    members["manifest.json"] = json.dumps(manifest).encode()


def _alter_record(members):
    record = json.loads(members["audit.json"])
    record["actor"] = "mallory@example.com"
    members["audit.json"] = json.dumps(record).encode()
    _resync_manifest(members)


@pytest.mark.parametrize(
    "change, says",
    [
        (_flip_model_byte, "model/logistic.onnx changed"),
        (lambda m: m.pop("app/mlops_cli/serving/server.py"), "app/mlops_cli/serving/server.py is missing"),
        (lambda m: m.update({"extra.sh": b"rm -rf /"}), "extra.sh is not in the manifest"),
        (lambda m: m.pop("manifest.json"), "manifest.json is missing"),
        (lambda m: m.update({"manifest.json": b"{not json"}), "manifest.json is not valid JSON"),
        (_consistent_forgery, "audit.json: the registration event of clf:1 recorded"),
        (_alter_record, "the registration event was altered"),
    ],
)
def test_verify_catches_tampering(cli, onnx_model, project, change, says):
    _bundle(cli, project / "good.tar.gz")
    _rewrite(project / "good.tar.gz", project / "bad.tar.gz", change)
    result = cli("bundle", "verify", project / "bad.tar.gz")
    assert result.exit_code == 5
    assert result.stderr.startswith("error: bundle") and says in result.stderr
    assert "Traceback" not in result.stderr
    as_json = cli("bundle", "verify", project / "bad.tar.gz", "--json")
    assert as_json.exit_code == 5 and as_json.json["ok"] is False
    assert any(says in problem for problem in as_json.json["problems"])


def test_verify_refuses_what_is_no_bundle(cli, project):
    (project / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    result = cli("bundle", "verify", project / "junk.tar.gz")
    assert result.exit_code == 5 and "not a readable bundle" in result.stderr
    missing = cli("bundle", "verify", project / "nope.tar.gz")
    assert missing.exit_code == 1 and "no such bundle file" in missing.stderr
    with tarfile.open(project / "link.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model/evil")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    linked = cli("bundle", "verify", project / "link.tar.gz")
    assert linked.exit_code == 5 and "not a regular file" in linked.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (("--format", "zip", "--output", "x"), "unknown --format 'zip'"),
        (("--format", "bundle"), "--format bundle needs --output"),
        (("--format", "bundle", "--output", "."), "is a folder"),
        (("--format", "bundle", "--output", "no/such/dir/x.tar.gz"), "does not exist"),
        (("--format", "bundle", "--output", "x.tar.gz", "--platform", "windows/amd64"), "unknown --platform"),
        (
            ("--format", "bundle", "--output", "x.tar.gz", "--platform", "linux/amd64,linux/arm64"),
            "one --platform",
        ),
        (("--output", "x.tar.gz"), "--output and --wheels are for --format bundle"),
    ],
)
def test_bad_bundle_options_exit_2_and_write_nothing(cli, onnx_model, project, args, says):
    result = cli("package", "clf:1", *args)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert not (project / "x.tar.gz").exists()


def test_non_onnx_version_is_refused(cli, project, model_file):
    assert cli("register", model_file, "--name", "raw").exit_code == 0
    result = cli("package", "raw:1", "--format", "bundle", "--output", project / "r.tar.gz")
    assert result.exit_code == 2 and "not ONNX" in result.stderr
    assert not (project / "r.tar.gz").exists()


@pytest.mark.integration
def test_extracted_bundle_serves_the_same_predictions(cli, onnx_model, project, tmp_path):
    """The launcher runs the bundled server (not this checkout's) with this interpreter's packages."""
    _bundle(cli, project / "m.tar.gz")
    device = tmp_path / "device"
    device.mkdir()
    with tarfile.open(project / "m.tar.gz", "r:gz") as tar:
        tar.extractall(device, filter="data")
    port = free_port()
    dropped = {"PYTHONPATH", "ORT_DISABLE_TELEMETRY", *CI_MARKERS}  # as on a user's terminal
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    home, tmp = tmp_path / "home", tmp_path / "tmp"  # where onnxruntime's telemetry would write
    home.mkdir()
    tmp.mkdir()
    env.update(PYTHON=sys.executable, HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"))
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(device / "serve.sh"), "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(server)
        x, _ = training_data(rows=16, seed=3)
        with server.client() as client:
            answer = client.post("/v2/models/clf/infer", json=infer_body(x, name="X"))
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        expected = direct_run(onnx_model, x)
        assert np.allclose(np.array(outputs["probabilities"]["data"]).reshape(16, 2), expected[1], atol=1e-6)
    finally:
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert left_behind(home, tmp) == []  # the bundled package turns onnxruntime's telemetry off
