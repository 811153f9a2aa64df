"""score-batch of an Azure-form entry script against the same score.py called in a loop by hand.

The script is examples/entry-azure/score.py unchanged (a scikit-learn forest loaded with joblib;
`run` parses `{"data": [[...]]}` and predicts). Both sides read the same Parquet file in chunks
of --batch-size rows, hand each chunk to `run()` as JSON text, and write the predictions to
Parquet; each is timed as a whole process (start-up, imports, init() and all), taken in turn
A B A B ..., medians of --repeats. `mlops score-batch` runs with `--env-manager local` (this
interpreter, as the loop does), once with one worker and once with two.

The machine is shared and loaded: read the ratios, not the absolute figures.

    python benchmarks/bench_entry_batch.py [--rows 200000] [--batch-size 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "entry-azure"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

BY_HAND = """
import importlib.util, json, os, sys
import pyarrow as pa, pyarrow.parquet as pq

model_dir, script, source, target, batch_size = sys.argv[1:6]
os.environ["AZUREML_MODEL_DIR"] = model_dir
spec = importlib.util.spec_from_file_location("score", script)
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)
score.init()
table = pq.read_table(source)
predictions = []
for batch in table.to_batches(max_chunksize=int(batch_size)):
    rows = [list(row) for row in zip(*(batch.column(c).to_pylist() for c in batch.schema.names))]
    predictions += score.run(json.dumps({"data": rows}))
pq.write_table(pa.table({"prediction": predictions}), target)
"""


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-entry-batch-") as folder:
        work = Path(folder)
        mlops = [sys.executable, "-m", "mlops_cli"]
        subprocess.run([*mlops, "init"], cwd=work, check=True, capture_output=True)
        model_dir = work / "model"
        model_dir.mkdir()
        subprocess.run([sys.executable, EXAMPLE / "train.py", model_dir / "model.joblib"], check=True)
        register = [*mlops, "register", model_dir / "model.joblib", "--name", "iris", "--entry"]
        subprocess.run([*register, EXAMPLE / "score.py"], cwd=work, check=True, capture_output=True)
        rng = np.random.default_rng(0)
        values = rng.normal(loc=[5.8, 3.0, 3.8, 1.2], scale=[0.8, 0.4, 1.8, 0.8], size=(args.rows, 4))
        pq.write_table(pa.table({n: values[:, i] for i, n in enumerate(FEATURES)}), work / "in.parquet")
        (work / "by_hand.py").write_text(BY_HAND)
        hand = [sys.executable, "by_hand.py", str(model_dir), str(EXAMPLE / "score.py"), "in.parquet",
                "hand.parquet", str(args.batch_size)]  # fmt: skip
        batch = [*mlops, "score-batch", "iris", "-i", "in.parquet", "--batch-size", str(args.batch_size),
                 "--env-manager", "local"]  # fmt: skip
        sides = {
            "by hand (loop over run())": hand,
            "score-batch, 1 worker": [*batch, "-o", "one.parquet"],
            "score-batch, 2 workers": [*batch, "-o", "two.parquet", "--workers", "2"],
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        timed(hand, work)  # warm the page cache and the imports
        for _ in range(args.repeats):
            for name, argv in sides.items():
                times[name].append(timed(argv, work))
        same = (
            pq.read_table(work / "one.parquet").column("prediction").to_pylist()
            == pq.read_table(work / "hand.parquet").column("prediction").to_pylist()
        )

    base = statistics.median(times["by hand (loop over run())"])
    print(f"{args.rows:,} rows, batch {args.batch_size:,}, medians of {args.repeats}; load {os.getloadavg()}")
    print(f"{'side':<28} {'median s':>9} {'rows/s':>10} {'time / by hand':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>9.2f} {args.rows / median:>10,.0f} {median / base:>14.2f}x")
    print(f"same predictions as the loop: {same}")


if __name__ == "__main__":
    main()
