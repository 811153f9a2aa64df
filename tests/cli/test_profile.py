"""`mlops profile` with real measurements: onnxruntime in-process and a real `mlops serve`
process over HTTP, short durations; the stored profile read back; every refusal of bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from tests.onnx_helpers import FEATURES, forest_onnx, register_onnx

SHORT = ("--duration", "0.2", "--warmup", "0.05")
KEYS = {"cpu", "memory", "memory_bytes", "threads", "workers", "max_batch_size", "confirmed"}


@pytest.fixture
def forest(store, project) -> str:
    register_onnx(store, forest_onnx(project), "forest")
    return "forest:1"


def _stored(cli, ref: str) -> tuple[list[dict], list[dict]]:
    shown = cli("models", "show", ref, "--json").json
    events = cli("audit", "log", "--action", "profile", "--json").json
    return [a for a in shown["artifacts"] if a["kind"] == "profile"], events


def _one_error_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_profile_measures_both_modes_recommends_and_stores(cli, forest):
    result = cli(
        "profile", forest, *SHORT, "--batch-sizes", "1,16", "--concurrency", "1,2", "--threads", "1",
        "--target-p99-ms", "1000", "--target-rps", "50", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    profile = result.json
    points = profile["points"]
    assert [(p["mode"], p["batch_size"], p["concurrency"]) for p in points] == [
        (mode, b, c) for mode in ("inprocess", "http") for b in (1, 16) for c in (1, 2)
    ]
    for p in points:
        assert p["requests"] > 0 and p["success_rate"] == 1.0, p
        assert p["rows_per_s"] == pytest.approx(p["requests_per_s"] * p["batch_size"], rel=1e-3)
        assert 0 < p["p50_ms"] <= p["p90_ms"] <= p["p95_ms"] <= p["p99_ms"] <= p["max_ms"]
        assert p["peak_rss_bytes"] > 20 << 20 and p["cpu_used"] > 0
    assert set(profile["client_ceiling_requests_per_s"]) == {"1", "2"}
    rec = profile["recommendation"]
    assert set(rec) >= KEYS and rec["confirmed"] is None  # not re-measured without --in-container
    chosen = points[rec["point"]]
    assert chosen["mode"] == "http" and profile["basis"] == "http"
    assert chosen["peak_rss_bytes"] <= rec["memory_bytes"] <= 1.5 * chosen["peak_rss_bytes"]
    assert rec["memory"] == f"{rec['memory_bytes'] >> 20}Mi"
    assert rec["cpu"] >= 0.25 and rec["cpu"] * 4 == int(rec["cpu"] * 4)
    assert rec["max_batch_size"] == chosen["batch_size"] and rec["threads"] == 1
    artifacts, events = _stored(cli, forest)
    assert len(artifacts) == 1 and artifacts[0]["details"]["recommendation"] == rec
    assert artifacts[0]["details"]["points"] == points
    assert len(events) == 1 and events[0]["subject"] == forest
    assert events[0]["details"]["recommendation"] == rec
    assert cli("audit", "verify").exit_code == 0  # the event chains like every other
    shown = cli("models", "show", forest)
    assert f"cpu {rec['cpu']}, memory {rec['memory']}" in shown.stdout
    from mlops_cli.profile.stored import latest_recommendation
    from mlops_cli.store import open_store

    opened = open_store()
    try:  # what deploy reads for its --cpu/--memory defaults
        assert latest_recommendation(opened, "forest") == rec
        assert latest_recommendation(opened, "forest:1") == rec
    finally:
        opened.close()
    assert "p99 <= 1000 ms" in shown.stdout
    # deploy shows it but sizes only from a confirmed one (--in-container); this one is not
    planned = cli("deploy", forest, "--name", "web", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.stderr
    resources = planned.json["resources"]
    assert rec["confirmed"] is None and resources["source"] == "cpu: defaults, memory: defaults"
    assert f"cpu {rec['cpu']}, memory {rec['memory']}" in resources["note"], resources


def test_data_file_markdown_and_repeats(cli, project, forest):
    rng = np.random.default_rng(0)
    table = pa.table({"id": np.arange(50), **{name: rng.normal(size=50) for name in FEATURES}})
    pacsv.write_csv(table, project / "rows.csv")
    result = cli(
        "profile", forest, *SHORT, "--mode", "inprocess", "--data", project / "rows.csv",
        "--batch-sizes", "8", "--concurrency", "1", "--threads", "1,2", "--repeat", "2", "--markdown",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("### Profile of `forest:1` (file ")
    header = next(line for line in lines if line.startswith("| MODE"))
    assert "P99 MS" in header and "PEAK RSS" in header and "SPREAD" in header
    rows = [line for line in lines if line.startswith("| inprocess")]
    assert len(rows) == 2
    assert any("recommendation (inprocess): cpu" in line for line in lines)
    stored = _stored(cli, forest)[0][0]["details"]
    assert stored["data"]["rows"] == 50 and all(len(p["repeats"]) == 2 for p in stored["points"])
    assert all(p["spread"]["rows_per_s"] is not None for p in stored["points"])


def test_a_sweep_long_enough_is_measured_in_passes_and_says_so(cli, forest):
    """--duration 0.6: three visits per point of 0.2 s each (profile/passes.py), joined into one
    window per repeat; the stored settings say how many; a short sweep (SHORT) is one visit."""
    result = cli(
        "profile", forest, "--duration", "0.6", "--warmup", "0.06", "--mode", "inprocess",
        "--batch-sizes", "1,8", "--concurrency", "1", "--threads", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json["settings"]["passes"] == 3
    for point in result.json["points"]:
        (window,) = point["repeats"]
        assert window["requests"] > 0 and point["latency_samples"] >= window["requests"]
    short = cli("profile", forest, *SHORT, "--mode", "inprocess", "--batch-sizes", "1", "--concurrency",
                "1", "--threads", "1", "--json")  # fmt: skip
    assert short.exit_code == 0, short.stderr
    assert short.json["settings"]["passes"] == 1


def test_impossible_targets_exit_5_with_the_best_found_and_store_nothing(cli, forest):
    result = cli(
        "profile", forest, *SHORT, "--mode", "inprocess", "--batch-sizes", "1,8", "--concurrency", "1",
        "--threads", "1", "--target-p99-ms", "0.000001", "--json",
    )  # fmt: skip
    line = _one_error_line(result, 5)
    assert "no measured configuration meets the targets" in line
    report = json.loads(result.stdout)
    assert report["recommendation"] is None and report["best"]["index"] in (0, 1)
    # The lowest p99 as the recommendation reads it: the upper end of its confidence interval.
    bound = min(p["p99_ci_ms"][1] for p in report["points"])
    assert report["best"]["p99_ci_ms"][1] == bound
    assert all(p["p99_ci_ms"][0] <= p["p99_ms"] <= p["p99_ci_ms"][1] for p in report["points"])
    assert _stored(cli, forest) == ([], [])
    from mlops_cli.profile.stored import latest_recommendation
    from mlops_cli.store import open_store

    opened = open_store()
    try:
        assert latest_recommendation(opened, forest) is None
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--batch-sizes", "0,8"], "--batch-sizes"),
        (["--concurrency", "-4"], "--concurrency"),
        (["--threads", "1,x"], "--threads"),
        (["--duration", "0"], "--duration"),
        (["--rows", "-5"], "--rows"),
        (["--repeat", "0"], "--repeat"),
        (["--target-p99-ms", "fast"], "not a number"),
        (["--target-rps", "-10"], "--target-rps"),
        (["--cpus", "1"], "--in-container"),
        (["--mode", "grpc"], "--mode"),
        (["--json", "--markdown"], "--markdown"),
        (["--headroom", "0.9"], "--headroom"),
        (["--duration", "inf"], "finite"),
        # typos that would start 100,000 threads, 500 servers or allocate 16 GB and more
        (["--threads", "1,100000"], "--threads 100000: more threads than this machine can use"),
        (["--workers", "500"], "--workers 500: more processes"),
        (["--concurrency", "1,100000"], "at most 1024"),
        (["--rows", "1000000000"], "--rows 1000000000 needs about"),
        (["--batch-sizes", "1,1000000000"], "--batch-sizes 1000000000 needs about"),
    ],
)
def test_bad_settings_exit_2_and_store_nothing(cli, forest, args, needle):
    line = _one_error_line(cli("profile", forest, *args), 2)
    assert needle in line
    assert _stored(cli, forest) == ([], [])


def test_a_non_onnx_version_is_refused(cli, model_file):
    assert cli("register", model_file, "--name", "blob", "--framework", "sklearn").exit_code == 0
    assert "not ONNX" in _one_error_line(cli("profile", "blob", *SHORT), 2)
    assert cli("audit", "log", "--action", "profile", "--json").json == []


def test_a_data_file_whose_columns_do_not_match_is_refused(cli, project, forest):
    pacsv.write_csv(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}), project / "other.csv")
    line = _one_error_line(cli("profile", forest, *SHORT, "--data", project / "other.csv"), 1)
    assert "missing column 'f0'" in line
    assert _stored(cli, forest) == ([], [])


def test_no_docker_engine_for_in_container_exits_4(cli, forest, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    line = _one_error_line(cli("profile", forest, *SHORT, "--in-container"), 4)
    assert "Docker engine" in line
    assert _stored(cli, forest) == ([], [])


def test_a_model_that_fails_every_call_exits_5_naming_the_error(cli, project, store):
    from tests.serving_helpers import failing_onnx

    register_onnx(store, failing_onnx(project), "failing", features=None)
    result = cli(
        "profile", "failing", *SHORT, "--mode", "inprocess", "--batch-sizes", "2", "--concurrency", "1"
    )
    line = _one_error_line(result, 5)
    assert "answered every request" in line and "the model failed to run" in line
    assert _stored(cli, "failing:1") == ([], [])


def test_too_few_samples_exit_5_and_store_nothing(cli, forest):
    result = cli(
        "profile", forest, "--duration", "0.001", "--warmup", "0", "--mode", "inprocess",
        "--batch-sizes", "1,64", "--concurrency", "1,4", "--json",
    )  # fmt: skip
    line = _one_error_line(result, 5)
    assert "too few samples to recommend anything" in line and "--duration" in line
    assert json.loads(result.stdout)["recommendation"] is None
    assert _stored(cli, forest) == ([], [])


def test_providers_are_swept_skipped_with_a_reason_and_one_recommended(cli, forest):
    """`--providers azure,cuda,cpu` measures each provider that runs the model here (the CPU;
    CUDA too on a GPU machine), alone, in process and in the `mlops serve` it starts; one not in
    this onnxruntime build is skipped as such, and one that runs none of the model's nodes
    (AzureExecutionProvider, listed as available by onnxruntime's CPU build) with that reason.
    The recommendation names one provider, recorded with the stored profile."""
    import onnxruntime as ort

    result = cli(
        "profile", forest, *SHORT, "--batch-sizes", "8", "--concurrency", "1", "--threads", "1",
        "--providers", "azure,cuda,cpu", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    available = ort.get_available_providers()
    report = result.json["providers"]
    skipped = {s["provider"]: s["reason"] for s in report["skipped"]}
    if "CUDAExecutionProvider" not in available:
        assert skipped["CUDAExecutionProvider"] == "not available in this onnxruntime build"
    if "AzureExecutionProvider" in available:
        assert "runs none of this model's nodes" in skipped["AzureExecutionProvider"]
    measured = report["measured"]
    assert "CPUExecutionProvider" in measured and not set(measured) & set(skipped)
    assert result.json["settings"]["providers"] == measured
    points = result.json["points"]
    assert sorted({p["provider"] for p in points}) == sorted(measured)
    assert len(points) == 2 * len(measured)  # one in-process and one HTTP point each
    assert [e["provider"] for e in report["per_provider"]] == measured
    rec = result.json["recommendation"]
    assert rec["providers"] == report["recommended"] == points[rec["point"]]["provider"]
    stored, _ = _stored(cli, forest)
    assert stored[-1]["details"]["recommendation"]["providers"] == report["recommended"]
    human = cli(
        "profile", forest, *SHORT, "--batch-sizes", "8", "--concurrency", "1", "--threads", "1",
        "--mode", "inprocess", "--providers", "cuda,cpu",
    )  # fmt: skip
    assert human.exit_code == 0, human.stderr
    assert f"execution provider recommended: {report['recommended']}" in human.stdout


def test_a_provider_list_that_cannot_run_the_model_is_one_error(cli, forest):
    """Nothing measurable: CUDA missing from this build is exit 1 (as for `serve`); Azure alone
    runs no node of the model. Nothing is stored."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        line = _one_error_line(cli("profile", forest, *SHORT, "--providers", "cuda"), 1)
        assert "not available in this onnxruntime build" in line
    if "AzureExecutionProvider" in ort.get_available_providers():
        line = _one_error_line(cli("profile", forest, *SHORT, "--providers", "azure"), 1)
        assert "runs none of this model's nodes" in line
    assert _stored(cli, forest) == ([], [])


def test_an_unknown_provider_name_is_a_usage_error(cli, forest):
    refused = cli("profile", forest, *SHORT, "--providers", "cudda")
    assert refused.exit_code == 2 and "unknown execution provider" in refused.stderr
