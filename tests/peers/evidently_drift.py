"""Run by Evidently's own virtualenv (.venv-peers/evidently), never imported by the tests.

argv: '{"numerical": [...], "categorical": [...], "runs": [{"reference", "current", "method"}, ...]}'
Prints, per run, {column: {"method", "threshold", "score", "drift"}} from Evidently's ValueDrift
on each column (one process for every run: importing Evidently takes seconds).
"""

import json
import sys

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift

# Evidently's display names of its stattests, as mlops names them.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chi2",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "psi": "psi",
}


def run(spec: dict, reference_path: str, current_path: str, method: str | None) -> dict:
    reference, current = pd.read_parquet(reference_path), pd.read_parquet(current_path)
    definition = DataDefinition(numerical_columns=spec["numerical"], categorical_columns=spec["categorical"])
    columns = spec["numerical"] + spec["categorical"]
    report = Report([ValueDrift(column=c, method=method) for c in columns], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    ).dict()
    failed = {t["metric_config"]["metric_id"]: t["status"] == "FAIL" for t in snapshot["tests"]}
    results = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        results[config["column"]] = {
            "method": METHODS.get(config["method"], config["method"]),
            "threshold": config["threshold"],
            "score": float(metric["value"]),
            "drift": failed[metric["id"]],
        }
    return results


def main() -> None:
    spec = json.loads(sys.argv[1])
    print(json.dumps([run(spec, r["reference"], r["current"], r["method"]) for r in spec["runs"]]))


if __name__ == "__main__":
    main()
