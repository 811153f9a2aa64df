"""The small parts of the server: MLflow payload parsing, auth, metrics text, bundle files,
the micro-batcher, wheels and the Dockerfile."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from mlops_cli.packaging import dockerfile, wheels
from mlops_cli.serving import invocations
from mlops_cli.serving.auth import BearerAuth
from mlops_cli.serving.batcher import MicroBatcher
from mlops_cli.serving.bundle import Bundle, read_bundle, write_bundle_file
from mlops_cli.serving.errors import HTTPError
from mlops_cli.serving.metrics import Metrics


def test_invocation_formats():
    assert invocations.parse({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}) == (
        ["a", "b"],
        [[1, 2]],
    )
    assert invocations.parse({"dataframe_records": [{"a": 1, "b": 2}]}) == (["a", "b"], [[1, 2]])
    assert invocations.parse({"instances": [[1, 2]]}) == (None, [[1, 2]])
    assert invocations.parse({"instances": [{"a": 1}]}) == (["a"], [[1]])
    assert invocations.parse({"inputs": {"a": [1, 2], "b": [3, 4]}}) == (["a", "b"], [[1, 3], [2, 4]])
    assert invocations.parse({"inputs": [5, 6]}) == (None, [[5], [6]])
    assert invocations.parse({"instances": [[1]], "params": {"x": 1}}) == (None, [[1]])


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        {"instances": [[1]], "inputs": [[1]]},
        {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
        {"dataframe_records": [{"a": 1}, {"b": 2}]},
        {"inputs": {"a": [1], "b": [1, 2]}},
        {"instances": [[1], {"a": 1}]},
        {"instances": []},
    ],
)
def test_bad_invocation_payloads_are_400(payload):
    with pytest.raises(HTTPError) as raised:
        invocations.parse(payload)
    assert raised.value.status == 400


def test_bearer_auth():
    auth = BearerAuth("k3y")
    for good in (b"Bearer k3y", b"bearer k3y", b"BEARER k3y", b"Bearer  k3y "):  # RFC 7235
        auth.check(good)
    for header in (None, b"Bearer k3", b"Bearer K3Y", b"Basic k3y", b"k3y", b"Bearer k3y2", b"Bearerk3y"):
        with pytest.raises(HTTPError) as raised:
            auth.check(header)
        assert raised.value.status == 401


def test_metrics_text_format():
    metrics = Metrics("m", "2")
    metrics.request("infer", 200, 0.0003)
    metrics.request("infer", 200, 0.002)
    metrics.request("infer", 400, 0.001)
    metrics.batch_sizes.observe("", 3)
    metrics.rows += 3
    text = metrics.render().decode()
    assert 'mlops_requests_total{endpoint="infer",status="200"} 2' in text
    assert 'mlops_request_duration_seconds_bucket{endpoint="infer",le="0.0005"} 1' in text
    assert 'mlops_request_duration_seconds_bucket{endpoint="infer",le="+Inf"} 3' in text
    assert 'mlops_request_duration_seconds_count{endpoint="infer"} 3' in text
    assert 'mlops_batch_size_bucket{le="4"} 1' in text and "mlops_batch_size_count 1" in text
    assert 'mlops_rows_scored_total{model="m",version="2"} 3' in text
    assert all(line.startswith(("#", "mlops_")) for line in text.splitlines())


def test_bundle_file_round_trip(tmp_path):
    bundle = Bundle(tmp_path, "m", 3, "sha256:" + "0" * 64, "model.onnx", {"feature_names": ["a"]}, "abc")
    write_bundle_file(bundle)
    assert read_bundle(tmp_path) == bundle
    elsewhere = write_bundle_file(bundle, tmp_path / "other.json")
    assert read_bundle(elsewhere).root == tmp_path
    with pytest.raises(ValueError, match="missing"):
        read_bundle(tmp_path / "nope")


def test_micro_batcher_splits_outputs_back():
    calls = []

    def run(feeds):
        calls.append(len(feeds["x"]))
        return {"y": feeds["x"] * 2, "scalar": np.array(1.0)}

    class Sink:
        batch_sizes = Metrics("m", "1").batch_sizes

    async def main():
        batcher = MicroBatcher(run, Sink(), max_size=8, max_latency=0.01)
        batcher.start()
        inputs = [np.full((1 + i % 2, 3), i, dtype=np.float32) for i in range(10)]
        results = await asyncio.gather(*(batcher.submit({"x": x}) for x in inputs))
        await batcher.stop()
        return inputs, results

    inputs, results = asyncio.run(main())
    for x, out in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(out["y"], x * 2)
    assert sum(calls) == sum(len(x) for x in inputs) and max(calls) <= 8 and len(calls) < 10


def test_wheel_filename_matching():
    ok = wheels._wheel_matches
    assert ok("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", "numpy", "2.4.6")
    assert ok("uvicorn-0.54.0-py3-none-any.whl", "uvicorn", "0.54.0")
    assert ok("click-8.1.0-py3-none-any.whl", "Click", "8.1.0")
    assert not ok("numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.whl", "numpy", "2.4.6")
    assert not ok("numpy-2.4.6-cp311-cp311-macosx_11_0_arm64.whl", "numpy", "2.4.6")
    assert not ok("numpy-2.4.5-cp311-cp311-manylinux_2_28_x86_64.whl", "numpy", "2.4.6")


def test_pip_download_command_is_offline_with_a_wheelhouse(tmp_path):
    argv = wheels.download_command(tmp_path / "out", ["numpy==2.0.0"], tmp_path)
    assert argv[1:4] == ["-m", "pip", "download"]
    assert "--only-binary=:all:" in argv and "--no-deps" in argv and "--no-index" in argv
    assert argv[argv.index("--python-version") + 1] == "3.11"
    assert "manylinux2014_x86_64" in argv and "manylinux_2_28_x86_64" in argv
    assert argv[-1] == "numpy==2.0.0"


def test_pins_name_only_serving_packages():
    names = [n for n, _ in wheels.pins()]
    assert {"onnxruntime", "numpy", "uvicorn"} <= set(names)
    assert "pyarrow" not in names and "pyarrow" in [n for n, _ in wheels.pins(with_collect=True)]
    assert not {"typer", "rich", "docker", "scikit-learn", "torch", "tensorflow"} & set(names)


def test_dockerfile():
    text = dockerfile.render("m:1", "sha256:x", "base:1", {"a.b": 'quote " here', "mlops.model.name": "m"})
    assert text.count("FROM base:1") == 2
    assert "--no-index" in text and "USER 10001:10001" in text and "EXPOSE 8080" in text
    assert "HEALTHCHECK" in text and "PORT=8080" in text
    assert 'a.b="quote \\" here"' in text


def test_serving_imports_nothing_of_the_cli_or_store():
    import subprocess
    import sys

    code = (
        "import sys, mlops_cli.serving.app, mlops_cli.serving.__main__, mlops_cli.serving.collector; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'git', 'sklearn') "
        "or m.startswith(('mlops_cli.store', 'mlops_cli.cli', 'mlops_cli.convert', 'mlops_cli.models', "
        "'mlops_cli.targets', 'mlops_cli.runtime.loader'))); print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_collector_drops_and_counts_when_full_and_writes_complete_files(tmp_path):
    import threading

    import pyarrow.parquet as pq

    from mlops_cli.serving.collector import Collector

    release = threading.Event()

    def columns(inputs, outputs):
        release.wait(10)  # the writer is stuck until released: the queue fills up
        return {"x": inputs["x"][:, 0], "prediction": outputs["y"]}

    metrics = Metrics("m", "1")
    collector = Collector(
        tmp_path, columns, "m", "1", metrics, queue_size=2, flush_rows=1, flush_seconds=0.05
    )
    x, y = np.ones((2, 1), dtype=np.float32), np.array([1, 0])
    for i in range(10):
        collector.submit(f"r{i}", "infer", {"x": x}, {"y": y})  # never blocks
    assert metrics.dropped >= 7 and metrics.collected + metrics.dropped == 10
    release.set()
    collector.close()
    table = pq.read_table(sorted(tmp_path.glob("*.parquet"))).to_pandas()
    assert len(table) == 2 * metrics.collected
    assert list(table.columns) == [
        "ts",
        "request_id",
        "row",
        "endpoint",
        "model",
        "model_version",
        "x",
        "prediction",
    ]
    assert not list(tmp_path.glob(".*"))


def test_collector_rotates_files(tmp_path):
    import pyarrow.parquet as pq

    from mlops_cli.serving.collector import Collector

    def columns(inputs, outputs):
        return {"x": inputs["x"][:, 0], "prediction": outputs["y"]}

    collector = Collector(
        tmp_path, columns, "m", "1", Metrics("m", "1"), rows_per_file=2, flush_rows=1, flush_seconds=0.05
    )
    for i in range(3):
        collector.submit(f"r{i}", "infer", {"x": np.full((2, 1), i, np.float32)}, {"y": np.array([i, i])})
    collector.close()
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 3 and collector.files == files
    assert sorted(pq.read_table(files).column("request_id").to_pylist()) == [
        "r0",
        "r0",
        "r1",
        "r1",
        "r2",
        "r2",
    ]


def test_collector_never_puts_more_rows_in_a_file_than_rows_per_file(tmp_path):
    """Large requests written in one batch are split across files (one file used to hold 840,132
    rows with a limit of 100,000)."""
    import pyarrow.parquet as pq

    from mlops_cli.serving.collector import Collector

    def columns(inputs, outputs):
        return {"x": inputs["x"][:, 0], "prediction": outputs["y"]}

    collector = Collector(
        tmp_path, columns, "m", "1", Metrics("m", "1"), rows_per_file=100, flush_rows=10_000, flush_seconds=60
    )
    for i in range(7):  # 7 requests of 60 rows, all written in the one flush at close
        x = np.arange(i * 60, (i + 1) * 60, dtype=np.float32).reshape(60, 1)
        collector.submit(f"r{i}", "invocations", {"x": x}, {"y": np.zeros(60, dtype=np.int64)})
    collector.close()
    files = sorted(tmp_path.glob("*.parquet"))
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] == [100, 100, 100, 100, 20]
    assert pq.read_table(files).column("x").to_pylist() == list(range(420))


def test_the_image_code_imports_on_its_own(tmp_path):
    """What `package` copies into /app must be enough for every serving module: a module the
    serving code imports but the image lacks fails only inside a container otherwise."""
    import pkgutil
    import subprocess
    import sys

    import mlops_cli.serving
    from mlops_cli.packaging import image as package

    package._copy_code(tmp_path / "mlops_cli")
    modules = [f"mlops_cli.serving.{m.name}" for m in pkgutil.iter_modules(mlops_cli.serving.__path__)]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); exec({script!r})",
         *modules],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("host", "key", "warned"),
    [
        ("127.0.0.1", None, False),
        ("127.0.0.2", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("::", None, True),
        ("192.168.1.20", None, True),
        ("0.0.0.0", "SERVE_KEY", False),
    ],
)
def test_serving_beyond_this_machine_without_a_key_is_warned(host, key, warned):
    from mlops_cli.serving.config import exposure_warning

    text = exposure_warning(host, key)
    assert (text is not None) == warned
    if warned:
        assert host in text and "--api-key-env" in text
