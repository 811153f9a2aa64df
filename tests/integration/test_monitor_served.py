"""`mlops monitor check` on what a real `mlops serve --collect` wrote, and the HTML report
rendered by a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx
from tests.serving_helpers import infer_body, start_server


def training(rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(shift if name == "f0" else 0.0, 1.0, rows) for name in FEATURES}
    return pa.table(data)


@pytest.fixture
def served(project, store, cli):
    """`clf` with a baseline, served with --collect, sent 30 shifted requests and 5 bad ones."""
    register_onnx(store, logistic_onnx(project, labels=["no", "yes"]), "clf", class_labels=["no", "yes"])
    pq.write_table(training(5_000, 0), project / "train.parquet")
    assert cli("monitor", "baseline", "clf", "--data", "train.parquet").exit_code == 0
    return collect_shifted_traffic(project, "clf", "collected", bad_requests=5)


def collect_shifted_traffic(project: Path, model: str, folder: str, bad_requests: int = 0) -> Path:
    """`mlops serve MODEL --collect FOLDER`, sent 30 requests of 4 rows with f0 shifted by 2
    (and some bad requests); the folder once the server has stopped and flushed."""
    server = start_server(project, model, "--collect", folder)
    shifted = np.column_stack([training(120, 1, shift=2.0)[f].to_numpy() for f in FEATURES]).astype(
        np.float32
    )
    try:
        with server.client() as client:
            for i in range(30):
                response = client.post(
                    f"/v2/models/{model}/infer", json=infer_body(shifted[i * 4 : i * 4 + 4])
                )
                assert response.status_code == 200, response.text
            for _ in range(bad_requests):
                bad = client.post(f"/v2/models/{model}/infer", json=infer_body(np.zeros((1, 3), np.float32)))
                assert bad.status_code == 400
    finally:
        assert server.stop() == 0, server.log.read_text()
    return project / folder


def test_collected_traffic_drift_and_request_figures(cli, project, served):
    result = cli("monitor", "check", "clf", "--collected", str(served), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert data["rows"] == 120 and data["source"]["kind"] == "collected"
    assert data["drifted_columns"][0] == "f0" and "f0" in data["drifted_columns"]
    assert data["prediction_drift"]["drift"] is True  # the model's probabilities follow f0
    assert set(data["extra_columns"]) == set()  # the collector's own columns are not features
    traffic = data["served"]
    assert traffic["requests"] == 35 and traffic["errors"] == 5 and traffic["client_errors"] == 5
    assert traffic["error_rate"] == pytest.approx(5 / 35)
    latency = traffic["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]


def test_served_traffic_of_a_model_without_feature_names(cli, project, store):
    """An ONNX file whose feature names were not recorded: the collector names its input's
    columns X_0..X_3; a baseline made with --features a,b,c,d reads them as a..d, so served
    features and predictions are compared, and f0's shift (now `a`) is found."""
    register_onnx(store, logistic_onnx(project), "raw", features=None)
    names = ["a", "b", "c", "d"]
    pq.write_table(training(5_000, 0).rename_columns(names), project / "train.parquet")
    baseline = cli("monitor", "baseline", "raw", "--data", "train.parquet", "--features", "a,b,c,d", "--json")
    assert baseline.exit_code == 0, baseline.stderr
    collected = collect_shifted_traffic(project, "raw", "raw-collected")
    result = cli("monitor", "check", "raw", "--collected", str(collected), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json
    assert data["features_checked"] == 4 and data["drifted_columns"][0] == "a"
    assert data["prediction_drift"]["drift"] is True and data["extra_columns"] == []
    # Without the names, none of the baseline's features is in the collected data: an error,
    # never "no drift (0 of 0 features)".
    pq.write_table(training(5_000, 0).rename_columns(names), project / "train.parquet")
    assert cli("monitor", "baseline", "raw", "--data", "train.parquet").exit_code == 0
    refused = cli("monitor", "check", "raw", "--collected", str(collected), "--json")
    assert refused.exit_code == 1 and "none of the features to check is in the current data" in refused.stderr
    assert "X_0" in refused.stderr


def test_deployment_folder_and_since(cli, project, served):
    folder = project / ".mlops" / "deployments" / "web"
    folder.mkdir(parents=True)
    shutil.copytree(served, folder / "collected")
    recent = cli("monitor", "check", "clf", "--deployment", "web", "--since", "1h", "--json")
    assert recent.exit_code == 0, recent.stderr
    assert recent.json["rows"] == 120 and recent.json["source"]["deployment"] == "web"
    later = cli("monitor", "check", "clf", "--deployment", "web", "--since", "2999-01-01")
    assert later.exit_code == 1 and later.stderr.startswith("error: the current data has no rows")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, tmp_path: Path) -> None:
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--screenshot={png}",
            "--window-size=1280,1600",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.skipif(
    chromium() is None and os.environ.get("MLOPS_REQUIRE_CHROMIUM") != "1",
    reason="chromium is not installed (apt-get install -y chromium)",
)
def test_report_renders_in_headless_chromium(cli, project, served, tmp_path):
    from matplotlib.image import imread

    report = project / "drift.html"
    result = cli("monitor", "check", "clf", "--collected", str(served), "--report", str(report), "--json")
    assert result.exit_code == 0, result.stderr
    text = report.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # no network
    assert text.count("<svg") == len([c for c in result.json["columns"] if c["status"] == "checked"])
    png = tmp_path / "report.png"
    screenshot(report, png, tmp_path)
    pixels = imread(png)[..., :3]
    assert pixels.shape[:2] == (1600, 1280)
    not_white = np.any(pixels < 0.95, axis=2).mean()
    assert not_white > 0.03, "the page rendered (almost) blank"
    orange = np.all(np.abs(pixels - np.array([0xDD, 0x84, 0x52]) / 255) < 0.08, axis=2).sum()
    red = np.all(np.abs(pixels - np.array([0xC0, 0x39, 0x2B]) / 255) < 0.08, axis=2).sum()
    assert orange > 100, "no current-data histogram drawn"
    assert red > 100, "no drift verdict badge drawn"
