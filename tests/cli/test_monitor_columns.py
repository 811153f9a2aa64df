"""Which columns `mlops monitor` compares, and real data's holes: every column by default,
named columns never dropped in silence, missing values in model inputs, many categories."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from tests.cli.test_monitor import by_name, frame, ok, one_line_error, write
from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx


@pytest.fixture
def churn(project, store) -> str:
    register_onnx(store, logistic_onnx(project, labels=["no", "yes"]), "churn", class_labels=["no", "yes"])
    return "churn:1"


def with_context(rows: int, seed: int, shift: dict[str, float] | None = None, west: float = 0.3) -> pa.Table:
    """The model's inputs plus context columns the model never sees."""
    rng = np.random.default_rng(seed)
    table = frame(rows, seed, shift)
    regions = rng.choice(["north", "south", "west"], rows, p=[0.7 - west, 0.3, west])
    notes = [f"ticket {i % 50}" for i in rng.integers(0, 1_000, rows)]
    return (
        table.append_column("region", pa.array(regions))
        .append_column("channel", pa.array(rng.choice(["web", "app"], rows)))
        .append_column("note", pa.array(notes))
    )


def test_every_column_is_monitored_and_columns_narrows(cli, project, churn):
    write(with_context(3_000, 0, west=0.1), project / "train.parquet")
    write(with_context(3_000, 1, west=0.4), project / "today.parquet")
    baseline = ok(cli("monitor", "baseline", churn, "--data", "train.parquet", "--target", "label", "--json"))
    assert baseline["columns"]["feature"] == [*FEATURES, "region", "channel", "note"]
    assert set(baseline["categorical"]) == {"region", "channel", "note", "prediction"}
    result = ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json"))
    columns = by_name(result)
    assert columns["region"]["drift"] is True and columns["region"]["kind"] == "categorical"
    assert columns["channel"]["drift"] is False and columns["note"]["status"] == "checked"
    assert result["extra_columns"] == []
    narrowed = ok(
        cli("monitor", "baseline", churn, "--data", "train.parquet", "--columns", "f0,region", "--json")
    )
    assert narrowed["columns"]["feature"] == ["f0", "region"]
    assert narrowed["columns"]["prediction"] == ["prediction", "proba_no", "proba_yes"]
    checked = ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json"))
    assert [c["name"] for c in checked["columns"] if c["role"] == "feature"] == ["region", "f0"]
    assert checked["extra_columns"] == ["f1", "f2", "f3", "label", "channel", "note"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--categorical", "nope"], "--categorical names columns the data lacks: nope"),
        (
            ["--columns", "f0", "--categorical", "region"],
            "--categorical names columns that are not monitored",
        ),
        (["--columns", "f0,nope"], "--columns names columns the data lacks: nope"),
        (["--target", "nope"], "--target 'nope' is not a column of the data"),
    ],
)
def test_a_named_column_that_would_not_be_monitored_is_an_error(cli, project, churn, args, needle):
    write(with_context(500, 0), project / "train.parquet")
    one_line_error(cli("monitor", "baseline", churn, "--data", "train.parquet", *args), 2, needle)


def test_check_refuses_named_columns_it_cannot_compare_as_asked(cli, project, churn):
    write(with_context(2_000, 0), project / "train.parquet")
    write(with_context(2_000, 1).drop_columns(["region"]), project / "today.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    check = ("monitor", "check", churn, "--data", "today.parquet")
    # Not named: reported as missing. Named: an error.
    assert by_name(ok(cli(*check, "--json")))["region"]["status"] == "missing"
    one_line_error(cli(*check, "--columns", "f0,region"), 2, "the current data lacks", "region")
    one_line_error(
        cli(*check, "--categorical", "f0"), 2, "--categorical names columns the baseline holds as numbers: f0"
    )
    one_line_error(cli(*check, "--columns", "f0", "--categorical", "channel"), 2, "not checked: channel")
    one_line_error(cli(*check, "--columns", "nope"), 2, "--columns names columns the baseline lacks: nope")
    reference = ("monitor", "check", churn, "--data", "today.parquet", "--reference", "train.parquet")
    one_line_error(cli(*reference, "--columns", "region"), 2, "the current data lacks", "region")


NAN_CSV = """f0,f1,f2,f3,region
0.1,0.2,0.3,0.4,north
0.5,,0.1,0.2,south
0.3,nan,0.2,0.1,
0.2,inf,0.4,0.3,north
0.4,0.1,-inf,0.2,south
0.6,0.3,0.2,0.5,north
"""


def test_missing_values_in_model_inputs_never_stop_baseline_or_check(cli, project, churn):
    (project / "naninf.csv").write_text(NAN_CSV)
    baseline = ok(cli("monitor", "baseline", churn, "--data", "naninf.csv", "--json"))
    assert baseline["rows"] == 6
    report = project / "drift.html"
    result = ok(
        cli(
            "monitor",
            "check",
            churn,
            "--data",
            "naninf.csv",
            "--reference",
            "naninf.csv",
            "--report",
            report,
            "--json",
        )
    )
    for checked in (result, ok(cli("monitor", "check", churn, "--data", "naninf.csv", "--json"))):
        columns = by_name(checked)
        assert columns["f1"]["quality"]["missing_rate_current"] == pytest.approx(3 / 6)  # empty, nan, inf
        assert columns["f1"]["current"]["count"] == 3 and columns["f2"]["current"]["missing"] == 1
        assert columns["region"]["current"]["missing"] == 1 and columns["region"]["current"]["count"] == 5
        # Rows the model cannot score (4 of 6) have no prediction: counted as missing outputs.
        assert columns["prediction"]["current"]["missing"] == 4
        assert columns["proba_yes"]["quality"]["missing_rate_current"] == pytest.approx(4 / 6)
    assert "missing 50.0%" in report.read_text()
    table = cli("monitor", "check", churn, "--data", "naninf.csv")
    assert table.exit_code == 0 and "50.0%" in table.stdout


def test_many_categories_fold_on_both_sides_as_the_reference_did(cli, project, plain_model):
    names = [f"user-{i:05d}" for i in range(12_000)]  # more than a baseline keeps one by one
    write(pa.table({"user": names}), project / "train.parquet")
    write(pa.table({"user": names[::-1]}), project / "today.parquet")  # met in the other order
    ok(cli("monitor", "baseline", plain_model, "--data", "train.parquet"))
    for metric in ("chi2", "auto"):
        user = by_name(
            ok(cli("monitor", "check", plain_model, "--data", "today.parquet", "--metric", metric, "--json"))
        )["user"]
        assert user["quality"]["unseen_count"] == 0 and user["drift"] is False
        assert (
            user["score"] is not None and math.isfinite(user["score"]) and user["score"] == pytest.approx(0.0)
        )
    exact = ok(
        cli(
            "monitor",
            "check",
            plain_model,
            "--data",
            "today.parquet",
            "--reference",
            "train.parquet",
            "--json",
        )
    )
    assert by_name(exact)["user"]["current"]["categories"] == 12_000  # nothing folded with --reference


@pytest.fixture
def plain_model(project, model_file, cli) -> str:
    assert cli("register", model_file, "--name", "plain").exit_code == 0
    return "plain:1"
