"""The pipeline's parts on their own: state cache, lock text, graph, params, environment."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mlops_cli.errors import UsageError
from mlops_cli.models import environment
from mlops_cli.pipeline import state as state_module
from mlops_cli.pipeline.lock import LockedPath, LockEntry, lock_text, read_lock, write_lock
from mlops_cli.pipeline.params import ParamsFiles
from mlops_cli.pipeline.state import StateCache


def _age(path: Path, seconds: float = 10) -> None:
    """Make a file look written a while ago (out of the racy window)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_unchanged_files_are_not_hashed_again(tmp_path: Path):
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.csv", "sub/b.csv"):
        (folder / name).write_bytes(os.urandom(1000))
        _age(folder / name)
    cache_dir = tmp_path / "cache"
    first = StateCache(cache_dir)
    digest = first.digest(folder)
    assert digest.nfiles == 2 and first.hashed == 2
    first.save()
    assert oct((cache_dir / state_module.STATE_FILE).stat().st_mode & 0o777) == "0o600"

    second = StateCache(cache_dir)
    assert second.digest(folder) == digest and second.hashed == 0

    (folder / "a.csv").write_bytes(os.urandom(1000))  # same size, new content and mtime
    third = StateCache(cache_dir)
    assert third.digest(folder).digest != digest.digest and third.hashed == 1


def test_a_file_changed_within_the_racy_window_is_not_cached(tmp_path: Path):
    path = tmp_path / "fresh.txt"
    path.write_text("x")
    cache = StateCache(tmp_path / "cache")
    cache.digest(path)
    cache.save()
    assert StateCache(tmp_path / "cache").digest(path) is not None
    assert not (tmp_path / "cache" / state_module.STATE_FILE).exists()  # nothing worth keeping


def test_the_lock_text_is_deterministic_and_round_trips(tmp_path: Path):
    entry = LockEntry(
        "python train.py",
        (LockedPath("data", "sha256:" + "a" * 64, 10, 2),),
        {"params.yaml": {"train.lr": 0.1}},
        (LockedPath("model.onnx", "sha256:" + "b" * 64, 5),),
    )
    entries = {"train": entry, "prepare": LockEntry("true")}
    order = ("prepare", "train")
    assert lock_text(entries, order) == lock_text(dict(reversed(list(entries.items()))), order)
    path = tmp_path / "mlops.lock"
    write_lock(path, entries, order)
    assert read_lock(path) == entries
    assert path.read_text().index("prepare:") < path.read_text().index("train:")


def test_a_malformed_lock_is_refused(tmp_path: Path):
    path = tmp_path / "mlops.lock"
    path.write_text("steps:\n  a: {deps: 3}\n")
    with pytest.raises(UsageError, match="mlops.lock is malformed"):
        read_lock(path)


def test_params_by_dotted_key_and_in_another_file(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n  layers: [8, 4]\n")
    (tmp_path / "other.json").write_text('{"seed": 7}')
    files = ParamsFiles(tmp_path)
    values = files.values(
        "s", (("params.yaml", "train.lr"), ("params.yaml", "train.layers.1"), ("other.json", "seed"))
    )
    assert values == {"other.json": {"seed": 7}, "params.yaml": {"train.layers.1": 4, "train.lr": 0.1}}
    with pytest.raises(UsageError, match="step 's': params file missing.yaml does not exist"):
        files.values("s", (("missing.yaml", "x"),))


def test_environment_snapshot_is_one_blob_per_environment_and_cached(store):
    first = environment.snapshot(store.objects, store.paths.cache)
    assert first.python and first.distributions > 0
    assert store.objects.has(first.digest)
    again = environment.snapshot(store.objects, store.paths.cache)
    assert again == first
    data = environment.load(store.objects, first.digest)
    assert any(d.startswith("typer==") for d in data["distributions"])
    changed = {**data, "distributions": [*data["distributions"][1:], "zzz-new==1.0"]}
    diff = environment.diff(data, changed)
    assert diff["added"] == ["zzz-new==1.0"] and diff["removed"] == [data["distributions"][0]]


def test_a_failed_check_in_a_step_keeps_exit_code_5():
    from mlops_cli.errors import CheckFailedError
    from mlops_cli.pipeline.report import FAILED, NOT_RUN, RAN, PipelineReport, StepReport

    report = PipelineReport(
        "p.yaml", steps=[StepReport("a", RAN), StepReport("b", FAILED, error="exit code 2", log="b.log")]
    )
    error = report.error()
    assert (
        error.exit_code == 1
        and error.message == "step 'b' failed: exit code 2"
        and error.hint == "log: b.log"
    )
    report.steps[1].check_failed = True
    report.steps.append(StepReport("c", NOT_RUN))
    error = report.error()
    assert isinstance(error, CheckFailedError) and error.exit_code == 5
    assert error.message.endswith("; 1 dependent step not run")
    assert PipelineReport("p.yaml", steps=[StepReport("a", RAN)]).error() is None


def test_the_spec_reads_dvc_forms(tmp_path: Path):
    from mlops_cli.pipeline.graph import build_graph
    from mlops_cli.pipeline.spec import load_spec

    (tmp_path / "raw.csv").write_text("x")
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "stages:\n"
        "  prepare:\n"
        "    cmd: [mkdir -p data, cp raw.csv data/x.csv]\n"
        "    deps: ./raw.csv\n"
        "    params: [seed, {other.yaml: [a.b]}]\n"
        "    outs: [data/]\n"
        "  train:\n"
        "    cmd: cat data/x.csv\n"
        "    deps: [data/x.csv]\n"
    )
    spec = load_spec(path)
    prepare = spec.steps["prepare"]
    assert prepare.cmd == "mkdir -p data && cp raw.csv data/x.csv"
    assert prepare.deps == ("raw.csv",) and prepare.outs == ("data",)
    assert prepare.params == (("params.yaml", "seed"), ("other.yaml", "a.b"))
    assert prepare.line == 3
    graph = build_graph(spec)
    assert graph.order == ("prepare", "train") and graph.upstream["train"] == ("prepare",)
    assert graph.closure(["prepare"]) == ("prepare",)


def test_a_key_given_twice_names_its_line(tmp_path: Path):
    from mlops_cli.pipeline.spec import load_spec

    path = tmp_path / "pipeline.yaml"
    path.write_text("steps:\n  a:\n    cmd: echo\n    cmd: echo again\n")
    with pytest.raises(UsageError, match=r"pipeline.yaml:4: step 'a': 'cmd' appears twice"):
        load_spec(path)
