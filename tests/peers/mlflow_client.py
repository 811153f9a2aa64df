"""Run by MLflow's own virtualenv (.venv-peers/mlflow), never imported by the tests.

Drives `/invocations` with MLflow's `ScoringServerClient`, the client MLflow's own tests use
against `mlflow models serve`, in every input form its `dump_input_data` writes, and prints the
predictions as one JSON object for tests/integration/test_serve_peer_clients.py. Usage:
python mlflow_client.py PORT_OF_CLF PORT_OF_MIXED ROWS.npy
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

FEATURES = ["f0", "f1", "f2", "f3"]


def predictions(client, data, **options):
    try:
        frame = client.invoke(data, **options).get_predictions()
    except Exception as exc:  # noqa: BLE001 - ScoringServerClient raises a bare Exception
        return {"error": str(exc)}
    return frame.to_dict(orient="list")


def main(clf_port: str, mixed_port: str, rows_path: str) -> None:
    rows = np.load(rows_path).astype(np.float32)
    clf = ScoringServerClient("127.0.0.1", int(clf_port))
    clf.wait_server_ready(timeout=30)
    mixed = ScoringServerClient("127.0.0.1", int(mixed_port))
    frame = pd.DataFrame(rows, columns=FEATURES)
    report = {
        "version": clf.get_version(),
        "clf": {
            "dataframe": predictions(clf, frame),
            "shuffled_columns": predictions(clf, frame[FEATURES[::-1]]),
            "ndarray": predictions(clf, rows),
            "dict": predictions(clf, {"X": rows}),
            "list": predictions(clf, rows.tolist()),
            "params": predictions(clf, frame, params={"threshold": 0.5}),
        },
        "mixed": predictions(
            mixed,
            pd.DataFrame({"city": ["a", "c", "never-seen"], "age": [0.5, -1.0, 2.0], "count": [1, 4, 0]}),
        ),
        "errors": {
            "missing_column": predictions(clf, frame.drop(columns=["f2"])),
            "text": predictions(clf, frame.assign(f1="x")),
        },
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
