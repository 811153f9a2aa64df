import json
import os
import subprocess
import sys

import pytest


def _blob_files(project):
    return sorted(p for p in (project / ".mlops" / "objects").rglob("*") if p.is_file())


def test_register_a_file(cli, model_file, project):
    result = cli(
        "register",
        model_file,
        "--name",
        "churn",
        "--tag",
        "team=growth",
        "--alias",
        "candidate",
        "--description",
        "churn model",
        "-m",
        "first try",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    record = result.json
    assert record["ref"] == "churn:1"
    assert record["tags"] == {"team": "growth"}
    assert record["aliases"] == ["candidate"]
    assert record["created_by"] == "tester@example.com"
    assert record["message"] == "first try"
    assert record["files"][0]["path"] == "model.bin"
    assert record["files"][0]["size"] == 2048
    assert len(_blob_files(project)) == 2  # the file and the environment snapshot


def test_human_output_names_version_digest_and_size(cli, model_file):
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    assert result.stdout.startswith("Registered churn:1 (sha256:")
    assert "2.0 kB" in result.stdout


def test_versions_count_up_and_default_name_is_the_stem(cli, model_file):
    assert cli("register", model_file, "--json").json["ref"] == "model:1"
    assert cli("register", model_file, "--json").json["ref"] == "model:2"


def test_same_folder_gets_the_same_digest(cli, project):
    folder = project / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "v.data").write_bytes(b"weights" * 100)
    first = cli("register", folder, "--json").json
    second = cli("register", folder, "--json").json
    assert first["digest"] == second["digest"]
    assert first["framework"] == "tensorflow"
    assert [f["path"] for f in first["files"]] == ["saved_model.pb", "variables/v.data"]
    (folder / "variables" / "v.data").write_bytes(b"changed")
    assert cli("register", folder, "--json").json["digest"] != first["digest"]


def test_symlink_inside_the_folder_is_fine(cli, project):
    folder = project / "m"
    folder.mkdir()
    (folder / "real.bin").write_bytes(b"x")
    (folder / "link.bin").symlink_to("real.bin")
    result = cli("register", folder, "--json")
    assert result.exit_code == 0, result.stderr
    assert sorted(f["path"] for f in result.json["files"]) == ["link.bin", "real.bin"]


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["missing.bin"], "no such file"),
        ("empty", ["empty"], "folder is empty"),
        (None, ["model.bin", "--name", "Bad/Name"], "invalid model name"),
        (None, ["model.bin", "--name", "a..b"], "invalid model name"),
        (None, ["model.bin", "--tag", "novalue"], "is not KEY=VALUE"),
        (None, ["model.bin", "--alias", "latest"], "invalid alias"),
        (None, ["model.bin", "--framework", "caffe"], "unknown framework"),
        ("outside", ["linked"], "outside"),
        (None, ["model.bin", "--dataset", "nope.csv"], "dataset"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_stored(cli, project, model_file, setup, args, message):
    if setup == "empty":
        (project / "empty").mkdir()
    if setup == "outside":
        secret = project.parent / "secret.txt"
        secret.write_text("not yours")
        (project / "linked").mkdir()
        (project / "linked" / "s.txt").symlink_to(secret)
    result = cli("register", *args)
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert _blob_files(project) == []
    assert cli("models", "list", "--json").json == []


def test_usage_errors_exit_2(cli, model_file):
    assert cli("register", model_file, "--name", "UPPER").exit_code == 2
    assert cli("register", model_file, "--tag", "x").exit_code == 2


def _mount(args):
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    """A real, tiny filesystem; mounting one needs root (CI is root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target = tmp_path / "mnt"
    target.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)]):
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)


def test_disk_full_midway_removes_the_temp_file(cli, tmpfs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmpfs)
    assert cli("init").exit_code == 0
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    result = cli("register", big, "--name", "big")
    assert result.exit_code == 1
    assert "disk is full" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list((tmpfs / ".mlops" / "tmp").iterdir()) == []
    assert cli("models", "list", "--json").json == []
    assert cli("audit", "verify").exit_code == 0


def test_read_only_store_is_refused_cleanly(cli, tmpfs, tmp_path, monkeypatch, model_file):
    monkeypatch.chdir(tmpfs)
    assert cli("init").exit_code == 0
    assert cli("register", model_file, "--name", "m").exit_code == 0
    assert _mount(["-o", "remount,ro", str(tmpfs)])
    result = cli("register", model_file, "--name", "m2")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    listed = cli("models", "list", "--json")
    assert listed.exit_code == 0 and [m["name"] for m in listed.json] == ["m"]


def test_unreadable_file(cli, project, model_file):
    if os.geteuid() == 0:
        # root reads everything, so chmod cannot make a file unreadable: a FIFO in its place
        # cannot be stored either, and must fail the same way (one line, nothing stored).
        target = project / "weights.onnx"
        os.mkfifo(target)
    else:
        target = model_file
        target.chmod(0)
    result = cli("register", target, "--name", "m")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert cli("models", "list", "--json").json == []


def test_git_provenance_is_recorded(cli, project, model_file):
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", "model.bin"], check=True)
    subprocess.run(
        ["git", "-C", str(project), "-c", "user.email=a@b.c", "-c", "user.name=A", "commit", "-qm", "m"],
        check=True,
    )
    record = cli("register", model_file, "--name", "m", "--json").json
    git = record["git"]
    head = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert git["commit"] == head.stdout.strip()
    assert git["branch"] == "main"
    assert git["repo"] == str(project)
    assert git["dirty"] is False
    model_file.write_bytes(b"changed")
    assert cli("register", model_file, "--name", "m", "--json").json["git"]["dirty"] is True


def test_dataset_is_stored_and_recorded(cli, project, model_file):
    data = project / "train.csv"
    data.write_text("a,b\n1,2\n")
    record = cli("register", model_file, "--name", "m", "--dataset", data, "--json").json
    assert record["datasets"][0]["path"] == str(data)
    assert record["datasets"][0]["size"] == data.stat().st_size
    assert cli("audit", "verify", "--json").json["blobs"] == 2


REGISTER_SCRIPT = """
import sys
from mlops_cli.cli import main
sys.exit(main(["register", sys.argv[1], "--name", "shared", "--json"]))
"""


def test_concurrent_registrations_get_distinct_gapless_versions(project, tmp_path):
    workers = 12
    paths = []
    for i in range(workers):
        path = tmp_path / f"m{i}.bin"
        path.write_bytes(os.urandom(4096) + bytes([i]))
        paths.append(path)
    env = {**os.environ, "MLOPS_ACTOR": "tester@example.com"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER_SCRIPT, str(p)],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in paths
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=False):
        assert proc.returncode == 0, err
        assert "locked" not in err
    versions = sorted(json.loads(out)["version"] for out, _ in outputs)
    assert versions == list(range(1, workers + 1))
    check = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "audit", "verify", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["events"] == workers + 1


def test_onnx_signature_is_stored_with_the_version(cli, project):
    skl2onnx = pytest.importorskip("skl2onnx")
    import numpy as np
    from sklearn.linear_model import LinearRegression

    features = np.random.default_rng(1).normal(size=(30, 3)).astype(np.float32)
    model = LinearRegression().fit(features, features.sum(axis=1))
    (project / "reg.onnx").write_bytes(skl2onnx.to_onnx(model, features[:1]).SerializeToString())
    record = cli("register", project / "reg.onnx", "--json").json
    assert record["framework"] == "onnx"
    assert record["signature"]["inputs"][0]["shape"] == [None, 3]
    shown = cli("models", "show", "reg")
    assert "signature" in shown.stdout and "variable" in shown.stdout
