"""Native predict vs onnxruntime after `mlops convert`, side by side in one run.

For LogisticRegression, RandomForest (100 trees, depth 10), GradientBoosting and a small PyTorch
MLP (when torch is installed): single-row latency over many calls and one 10,000-row batch,
median of several runs, and the speed-up. The models go through the same adapters `mlops
convert` uses, and each conversion's parity is checked before timing.

onnxruntime runs with one intra-op thread, like scikit-learn's predict here, so the ratio
compares the engines, not the thread counts.

Usage: python benchmarks/bench_convert.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _models(X, y):  # noqa: N803 - the usual names
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_cli.convert.sklearn import SklearnAdapter

    def sklearn(model):
        # predict_proba is one call that gives what the ONNX graph gives (labels are its argmax).
        return SklearnAdapter(model), model.predict_proba

    yield ("LogisticRegression", *sklearn(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)))
    forest = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0)
    yield ("RandomForest (100 trees, depth 10)", *sklearn(forest.fit(X, y)))
    yield ("GradientBoosting (100 trees)", *sklearn(GradientBoostingClassifier(random_state=0).fit(X, y)))
    try:
        import torch
    except ImportError:
        return
    from mlops_cli.convert.torch import TorchAdapter

    torch.manual_seed(0)
    layers = [torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU()]
    mlp = torch.nn.Sequential(*layers, torch.nn.Linear(64, 2)).eval()
    torch.set_num_threads(1)

    def forward(values):
        with torch.no_grad():
            return mlp(torch.from_numpy(values.astype("float32"))).numpy()

    yield "PyTorch MLP (30-64-64-2)", TorchAdapter(mlp, (X.shape[1],)), forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer calls, smaller batch")
    args = parser.parse_args()
    calls, batch, repeats = (100, 1_000, 3) if args.quick else (1_000, 10_000, 5)

    from sklearn.datasets import make_classification

    from mlops_cli.convert.base import Options
    from mlops_cli.convert.opsets import choose_opset
    from mlops_cli.convert.parity import compare
    from mlops_cli.convert.rows import Rows

    X, y = make_classification(  # noqa: N806 - the usual names
        n_samples=max(batch, 2_000), n_features=30, n_informative=12, random_state=0
    )
    X_batch = X[:batch]  # noqa: N806
    rows = Rows("benchmark", array=X_batch)
    single = Rows("benchmark", array=X_batch[:1])

    header = f"{'model':<36} {'native 1 row':>13} {'onnx 1 row':>11} {'speed-up':>9}"
    header += f" {'native ' + str(batch):>14} {'onnx ' + str(batch):>12} {'speed-up':>9}"
    print(f"batch 1: median per call over {calls} calls; batch {batch}: median of {repeats} runs")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name, adapter, predict in _models(X[:2_000], y[:2_000]):
            path = Path(tmp) / "model.onnx"
            adapter.convert(rows, Options(opset=choose_opset(None, adapter.max_opset)), path)
            session = _session(path)
            input_names = [i.name for i in session.get_inputs()]
            outputs = adapter.output_names([o.name for o in session.get_outputs()])
            report = compare(
                adapter.native(rows),
                dict(zip(outputs, session.run(None, adapter.feed(rows, input_names)), strict=True)),
                labels=adapter.label_outputs,
                rtol=1e-4,
                atol=1e-5,
                max_mismatch_rate=0.001,
                source="benchmark",
            )
            assert report.passed, f"{name}: parity failed: {report.to_dict()}"
            feed_one = adapter.feed(single, input_names)
            feed_all = adapter.feed(rows, input_names)

            one_row = X_batch[:1].copy()

            def native_calls(predict=predict, one_row=one_row):
                for _ in range(calls):
                    predict(one_row)

            def onnx_calls(session=session, feed_one=feed_one):
                for _ in range(calls):
                    session.run(None, feed_one)

            native_one = _median_seconds(native_calls, repeats) / calls
            onnx_one = _median_seconds(onnx_calls, repeats) / calls
            native_all = _median_seconds(lambda p=predict: p(X_batch), repeats)
            onnx_all = _median_seconds(lambda s=session, f=feed_all: s.run(None, f), repeats)
            print(
                f"{name:<36} {native_one * 1e6:>10.0f} us {onnx_one * 1e6:>8.1f} us"
                f" {native_one / onnx_one:>8.1f}x {native_all * 1e3:>11.1f} ms {onnx_all * 1e3:>9.1f} ms"
                f" {native_all / onnx_all:>8.1f}x"
            )
    print("native = scikit-learn predict_proba / torch forward (1 thread); onnx = onnxruntime, 1 thread")


if __name__ == "__main__":
    main()
