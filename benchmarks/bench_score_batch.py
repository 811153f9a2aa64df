"""How fast is `mlops score-batch`, side by side with what people write by hand?

Data: N rows x 20 float features (default 1,000,000), as CSV and as Parquet, generated here.
Models: LogisticRegression and RandomForestClassifier(100 trees, depth 10), converted with
skl2onnx and registered in a temporary store.

Every case runs as its own process (interpreter start and imports included, as a user sees it),
timed wall-clock; peak RSS is the sum over the process tree, sampled every 20 ms.

- A (the floor): pyarrow reads 65,536-row batches, `session.run`, pyarrow writes Parquet.
  onnxruntime's defaults already run a tree ensemble on every core; A1 is the same script with
  one intra-op thread, to show what the second core adds.
- B (what users do today): pandas.read_csv + model.predict_proba + DataFrame.to_csv.
- mlops --workers 1 / 2: `mlops score-batch`.
- mlflow: `mlflow models predict` on the same scikit-learn model, when `--mlflow-python` names a
  Python with mlflow and scikit-learn installed (a separate venv); skipped otherwise.

Usage: python benchmarks/bench_score_batch.py [--rows N] [--repeats R] [--quick] [--keep DIR]
                                             [--mlflow-python /opt/mlflow/bin/python]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
ROOT = Path(__file__).resolve().parent.parent

BASELINE_A = """
import sys, numpy as np, onnxruntime as ort, pyarrow as pa, pyarrow.parquet as pq, pyarrow.csv as pacsv
model, source, target = sys.argv[1:4]
features = [f"f{i}" for i in range(20)]
options = ort.SessionOptions()
if len(sys.argv) > 4:  # a thread count: 1 shows what a single core does
    options.intra_op_num_threads = int(sys.argv[4])
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
if source.endswith(".parquet"):
    batches = pq.ParquetFile(source).iter_batches(batch_size=65536, columns=features)
else:
    batches = pacsv.open_csv(source, convert_options=pacsv.ConvertOptions(include_columns=features))
writer = None
for batch in batches:
    x = np.column_stack([batch.column(f).to_numpy() for f in features]).astype(np.float32)
    label, proba = session.run(None, {name: x})
    table = pa.table({"prediction": label, **{f"proba_{j}": proba[:, j] for j in range(proba.shape[1])}})
    writer = writer or pq.ParquetWriter(target, table.schema)
    writer.write_table(table)
writer.close()
"""

BASELINE_B = """
import sys, joblib, pandas as pd
model, source, target = sys.argv[1:4]
frame = pd.read_csv(source)
estimator = joblib.load(model)
proba = estimator.predict_proba(frame[[f"f{i}" for i in range(20)]].to_numpy())
out = pd.DataFrame({"prediction": estimator.classes_[proba.argmax(axis=1)]})
for j, label in enumerate(estimator.classes_):
    out[f"proba_{label}"] = proba[:, j]
out.to_csv(target, index=False)
"""


MLFLOW_SAVE = """
import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2], serialization_format="cloudpickle")
"""


def mlflow_cases(python: str | None, work: Path, models: dict, csv_path: Path) -> dict[str, list[str]]:
    """name -> argv of `mlflow models predict` on the CSV, for each model mlflow could save."""
    if not python:
        return {}
    mlflow = str(Path(python).with_name("mlflow"))
    cases = {}
    for name, (_, joblib_path) in models.items():
        model_dir = work / f"mlflow-{name}"
        subprocess.run(
            [python, "-c", MLFLOW_SAVE, str(joblib_path), str(model_dir)], check=True, capture_output=True
        )
        cases[name] = [
            mlflow,
            "models",
            "predict",
            "-m",
            str(model_dir),
            "-i",
            str(csv_path),
            "-t",
            "csv",
            "-o",
            f"mlflow-{name}.json",
            "--env-manager",
            "local",
        ]
    return cases


# Peak PSS (proportional set size) of the tree, per argv, noted by run_measured: RSS summed over
# processes counts the pages a fork server shares with its workers once per process, PSS once.
PEAK_PSS: dict[str, float] = {}


def run_measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, summed over the process tree) of one command."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak = peak_pss = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            if len(tree) > 1:  # smaps is slow to read: only where sharing makes RSS misleading
                peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    PEAK_PSS[" ".join(argv)] = max(PEAK_PSS.get(" ".join(argv), 0), peak_pss / 1e6)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.read().decode()}")
    return elapsed, peak / 1e6


def make_data(folder: Path, rows: int, seed: int = 0, csv: bool = True) -> tuple[Path | None, Path]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    csv_path, parquet_path = folder / f"data-{rows}.csv", folder / f"data-{rows}.parquet"
    step = 500_000
    schema = pa.schema([(f, pa.float64()) for f in FEATURES])
    csv_writer = pacsv.CSVWriter(str(csv_path), schema) if csv else None
    with pq.ParquetWriter(str(parquet_path), schema) as parquet_writer:
        for start in range(0, rows, step):
            count = min(step, rows - start)
            table = pa.table({f: rng.normal(size=count) for f in FEATURES})
            if csv_writer:
                csv_writer.write_table(table)
            parquet_writer.write_table(table)
    if csv_writer:
        csv_writer.close()
    return (csv_path if csv else None), parquet_path


def make_models(folder: Path) -> dict[str, tuple[Path, Path]]:
    """name -> (onnx file, joblib file) for the two models, trained on 20,000 rows."""
    import joblib
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, N_FEATURES)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) + rng.normal(scale=0.5, size=len(x)) > 0).astype(np.int64)
    models = {
        "logreg": LogisticRegression(max_iter=500).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=-1).fit(x, y),
    }
    paths = {}
    for name, model in models.items():
        onx = to_onnx(model, x[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
        onnx_path, joblib_path = folder / f"{name}.onnx", folder / f"{name}.joblib"
        onnx_path.write_bytes(onx.SerializeToString())
        if hasattr(model, "n_jobs"):
            model.n_jobs = None  # baseline B predicts as users do by default: one core
        joblib.dump(model, joblib_path)
        paths[name] = (onnx_path, joblib_path)
    return paths


def register(project: Path, env: dict[str, str], models: dict[str, tuple[Path, Path]]) -> None:
    sys.path.insert(0, str(ROOT))
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.store import init_store

    store, _ = init_store(project, provenance())
    for name, (onnx_path, _) in models.items():
        signature = onnx_signature(onnx_path)
        signature["feature_names"] = FEATURES
        register_model(store, onnx_path, name=name, framework="onnx", signature=signature)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the median is shown")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one run per case, no 5x check")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--mlflow-python", help="a Python with mlflow and scikit-learn, for the mlflow column"
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    repeats = 1 if args.quick else args.repeats

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-score-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLOPS_STORE": str(work), "MLOPS_ACTOR": "bench", "NO_COLOR": "1"}
    python = sys.executable
    mlops = [python, "-m", "mlops_cli"]
    try:
        started = time.perf_counter()
        csv_path, parquet_path = make_data(work, rows)
        models = make_models(work)
        register(work, env, models)
        print(
            f"data: {rows:,} rows x {N_FEATURES} floats; CSV {csv_path.stat().st_size / 1e6:.0f} MB,"
            f" Parquet {parquet_path.stat().st_size / 1e6:.0f} MB"
            f" (prepared in {time.perf_counter() - started:.0f} s)"
        )
        mlflow = mlflow_cases(args.mlflow_python, work, models, csv_path)
        mlflow_note = "mlflow models predict" if mlflow else "not given (column skipped)"
        print(f"cores: {os.cpu_count()}, repeats: {repeats} (median), mlflow: {mlflow_note}\n")

        results: dict[tuple[str, str], tuple[float, float]] = {}
        for name, (onnx_path, joblib_path) in models.items():
            pq_in, csv_in = str(parquet_path), str(csv_path)
            cases = {
                "A parquet": [python, "-c", BASELINE_A, str(onnx_path), str(parquet_path), "a.parquet"],
                "A1 parquet": [python, "-c", BASELINE_A, str(onnx_path), pq_in, "a1.parquet", "1"],
                "mlops w1 parquet": [*mlops, "score-batch", name, "-i", pq_in, "-o", "m1.parquet"],
                "mlops w2 parquet": [
                    *mlops, "score-batch", name, "-i", pq_in, "-o", "m2.parquet", "--workers", "2",
                ],
                "A csv": [python, "-c", BASELINE_A, str(onnx_path), csv_in, "a-csv.parquet"],
                "B csv": [python, "-c", BASELINE_B, str(joblib_path), str(csv_path), "b.csv"],
                "mlops w1 csv": [*mlops, "score-batch", name, "-i", str(csv_path), "-o", "m1.csv"],
                "mlops w2 csv": [
                    *mlops, "score-batch", name, "-i", str(csv_path), "-o", "m2.csv", "--workers", "2",
                ],
            }  # fmt: skip
            if name in mlflow:
                cases["mlflow csv"] = mlflow[name]
            for case, argv in cases.items():
                runs = [run_measured(argv, work, env) for _ in range(repeats)]
                results[(name, case)] = (
                    statistics.median(r[0] for r in runs),
                    max(r[1] for r in runs),
                )
                seconds, rss = results[(name, case)]
                speed = rows / seconds / 1e6
                pss = PEAK_PSS.get(" ".join(argv), 0)
                pss_text = f"  (PSS {pss:.0f} MB)" if pss else ""
                figures = f"{seconds:7.2f} s  {speed:6.2f} M rows/s  {rss:6.0f} MB{pss_text}"
                print(f"  {name:7s} {case:18s} {figures}")
                if case == "mlops w2 parquet":
                    results[(name, "w2 pss")] = (0.0, pss)
        print()
        report(results, rows)
        if not args.quick:
            scale_check(work, env, mlops, rows)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def report(results: dict[tuple[str, str], tuple[float, float]], rows: int) -> None:
    def ratio(name: str, ours: str, base: str) -> float:
        return results[(name, base)][0] / results[(name, ours)][0]

    header = ["model", "input", "baseline A", "baseline B", "mlops w1", "mlops w2", "w1 / A", "w2 / A"]
    print("| " + " | ".join([*header, "w1 / B", "peak RSS w1"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("logreg", "forest"):
        for kind in ("parquet", "csv"):
            a = results[(name, f"A {kind}")][0]
            b = results.get((name, f"B {kind}"), (None, None))[0]
            w1, rss = results[(name, f"mlops w1 {kind}")]
            w2 = results[(name, f"mlops w2 {kind}")][0]
            print(
                f"| {name} | {kind} | {a:.2f} s | {f'{b:.2f} s' if b else '-'} | {w1:.2f} s | {w2:.2f} s"
                f" | {a / w1:.2f}x | {a / w2:.2f}x | {f'{b / w1:.2f}x' if b else '-'} | {rss:.0f} MB |"
            )
    print()
    print("targets (speed-up = baseline time / mlops time):")
    checks = [
        ("w1 >= 0.9 x A, logreg parquet", ratio("logreg", "mlops w1 parquet", "A parquet"), 0.9),
        ("w1 >= 0.9 x A, forest parquet", ratio("forest", "mlops w1 parquet", "A parquet"), 0.9),
        ("w2 >= 1.6 x A, forest parquet", ratio("forest", "mlops w2 parquet", "A parquet"), 1.6),
        ("w2 >= 1.6 x A1 (1 thread), forest parquet", ratio("forest", "mlops w2 parquet", "A1 parquet"), 1.6),
        ("w1 >= 1.3 x B, logreg csv", ratio("logreg", "mlops w1 csv", "B csv"), 1.3),
        ("w1 RSS <= 600 MB (forest parquet)", 600 / results[("forest", "mlops w1 parquet")][1], 1.0),
        ("w2 RSS sum <= 600 MB (forest parquet)", 600 / results[("forest", "mlops w2 parquet")][1], 1.0),
        ("w2 PSS sum <= 600 MB (forest parquet)", 600 / max(results[("forest", "w2 pss")][1], 1), 1.0),
        ("w1 >= 0.95 x A, forest csv", ratio("forest", "mlops w1 csv", "A csv"), 0.95),
    ]
    for name in ("logreg", "forest"):
        if (name, "mlflow csv") in results:
            checks.append(
                (f"w1 >= 2 x mlflow predict, {name} csv", ratio(name, "mlops w1 csv", "mlflow csv"), 2.0)
            )
    for label, value, target in checks:
        print(f"  {label:44s} {value:5.2f}  {'met' if value >= target else 'NOT met'}")


def scale_check(work: Path, env: dict[str, str], mlops: list[str], rows: int) -> None:
    """Peak RSS must not grow with the input: 5x the rows, at most 10 % more memory."""
    _, big = make_data(work, rows * 5, seed=2, csv=False)
    _, small_rss = run_measured(
        [*mlops, "score-batch", "logreg", "-i", f"data-{rows}.parquet", "-o", "s.parquet"], work, env
    )
    _, big_rss = run_measured([*mlops, "score-batch", "logreg", "-i", str(big), "-o", "b.parquet"], work, env)
    growth = big_rss / small_rss - 1
    print(
        f"\npeak RSS, logreg parquet: {rows:,} rows {small_rss:.0f} MB, {rows * 5:,} rows {big_rss:.0f} MB"
        f" ({growth:+.1%}; target <= +10 %: {'met' if growth <= 0.10 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
