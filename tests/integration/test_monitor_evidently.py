"""`mlops monitor check --reference` against Evidently 0.7 itself, on the same files.

Evidently runs in its own virtualenv (`.venv-peers/evidently`, built by `scripts/peers.sh`
from `.ci/run`: it needs pandas<3) through `tests/peers/evidently_drift.py`, which prints its
per-column results. Columns of every kind Evidently's `auto` rules tell apart (continuous,
binary, few-valued numbers; categories; two categories; thousands of categories), references
below and above 1,000 rows, `auto` and `psi`: every verdict must be Evidently's, and every score
(or p-value) within 1e-9. Skipped only when the peer is missing and MLOPS_REQUIRE_EVIDENTLY is
not 1 (CI sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / ".venv-peers" / "evidently" / "bin" / "python"
SCRIPT = ROOT / "tests" / "peers" / "evidently_drift.py"
NUMERICAL = ["normal", "shifted", "nudged", "with_nan", "binary", "few"]
CATEGORICAL = ["channel", "two", "city"]

pytestmark = pytest.mark.skipif(
    not PEER.exists() and os.environ.get("MLOPS_REQUIRE_EVIDENTLY") != "1",
    reason="no Evidently peer venv (bash scripts/peers.sh evidently builds it)",
)


def sample(rows: int, seed: int, drifted: bool) -> pa.Table:
    """Columns of every kind; the current side moves some of them by small and large amounts."""
    rng = np.random.default_rng(seed)
    shift = 1.0 if drifted else 0.0
    with_nan = rng.normal(0.0, 1.0, rows)
    with_nan[rng.random(rows) < 0.05] = np.nan
    channels = ["web", "app", "store", "phone", "mail", "partner"]
    weights = np.array([6, 5, 4, 3, 2, 1 + 3 * shift], dtype=float)
    cities = 3_000 if drifted else 2_500
    return pa.table(
        {
            "normal": rng.normal(0.0, 1.0, rows),
            "shifted": rng.normal(0.4 * shift, 1.0, rows),
            "nudged": rng.normal(0.05 * shift, 1.0, rows),
            "with_nan": with_nan,
            "binary": rng.binomial(1, 0.3 + 0.05 * shift, rows),
            "few": rng.choice([0, 1, 2, 3], rows, p=[0.4, 0.3, 0.2 - 0.05 * shift, 0.1 + 0.05 * shift]),
            "channel": rng.choice(channels, rows, p=weights / weights.sum()),
            "two": rng.choice(["yes", "no"], rows, p=[0.5 + 0.1 * shift, 0.5 - 0.1 * shift]),
            "city": [f"city-{i}" for i in rng.integers(0, cities, rows)],
        }
    )


def evidently(runs: list[tuple[Path, Path, str | None]]) -> list[dict[str, dict]]:
    spec = {
        "numerical": NUMERICAL,
        "categorical": CATEGORICAL,
        "runs": [{"reference": str(r), "current": str(c), "method": m} for r, c, m in runs],
    }
    done = subprocess.run(
        [str(PEER), str(SCRIPT), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def compared(theirs: dict, ours: dict) -> str | None:
    """Why our column differs from Evidently's, or None."""
    if ours["metric"] != theirs["method"]:
        return f"metric {ours['metric']} vs {theirs['method']}"
    if ours["drift"] != theirs["drift"]:
        return f"verdict {ours['drift']} vs {theirs['drift']}"
    value = ours["p_value"] if ours["metric"] in ("ks", "chi2", "z") else ours["score"]
    if value is None or abs(value - theirs["score"]) > 1e-9 * max(1.0, abs(theirs["score"])):
        return f"score {value} vs {theirs['score']}"
    if ours["threshold"] != theirs["threshold"]:
        return f"threshold {ours['threshold']} vs {theirs['threshold']}"
    return None


@pytest.mark.slow
def test_verdicts_and_scores_are_evidentlys(cli, project, model_file):
    assert cli("register", model_file, "--name", "plain").exit_code == 0
    cases = []
    for reference_rows, current_rows in ((800, 700), (5_000, 4_000)):  # both sides of 1,000 rows
        reference = project / f"reference-{reference_rows}.parquet"
        current = project / f"current-{reference_rows}.parquet"
        pq.write_table(sample(reference_rows, 1, drifted=False), reference)
        pq.write_table(sample(current_rows, 2, drifted=True), current)
        cases += [(reference, current, None), (reference, current, "psi")]
    metrics_seen: dict[bool, set[str]] = {True: set(), False: set()}
    for (reference, current, method), theirs in zip(cases, evidently(cases), strict=True):
        args = ["monitor", "check", "plain:1", "--data", current, "--reference", reference, "--json"]
        result = cli(*args, "--metric", method or "auto")
        assert result.exit_code == 0, result.stderr
        ours = {c["name"]: c for c in result.json["columns"]}
        assert set(ours) == set(theirs) == set(NUMERICAL + CATEGORICAL)
        differences = {name: compared(theirs[name], ours[name]) for name in theirs}
        wrong = {name: why for name, why in differences.items() if why}
        assert not wrong, (reference.name, method, wrong)
        assert any(c["drift"] for c in ours.values()) and not all(c["drift"] for c in ours.values())
        metrics_seen["800" in reference.name] |= {c["metric"] for c in ours.values()}
    assert metrics_seen[True] == {"ks", "chi2", "z", "psi"}  # reference <= 1,000 rows
    assert metrics_seen[False] == {"wasserstein", "jensenshannon", "psi"}
