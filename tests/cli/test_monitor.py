"""`mlops monitor baseline` and `check` in-process: verdicts against scipy, records, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from scipy import stats

from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx


@pytest.fixture
def churn(project, store) -> str:
    """A registered ONNX classifier on features f0..f3 with classes no/yes."""
    register_onnx(store, logistic_onnx(project, labels=["no", "yes"]), "churn", class_labels=["no", "yes"])
    return "churn:1"


@pytest.fixture
def plain(project, model_file, cli) -> str:
    """A version that is not ONNX: every column of the data is monitored, no predictions."""
    assert cli("register", model_file, "--name", "plain").exit_code == 0
    return "plain:1"


def frame(rows: int, seed: int, shift: dict[str, float] | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    shift = shift or {}
    data = {name: rng.normal(shift.get(name, 0.0), 1.0, rows) for name in FEATURES}
    data["label"] = rng.integers(0, 2, rows)
    return pa.table(data)


def write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result.json if result.stdout.startswith(("{", "[")) else result


def one_line_error(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def by_name(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["columns"]}


def test_baseline_is_a_blob_an_artifact_and_an_event(cli, project, churn, store):
    write(frame(2_000, 0), project / "train.parquet")
    result = ok(cli("monitor", "baseline", churn, "--data", "train.parquet", "--target", "label", "--json"))
    assert result["rows"] == 2_000
    assert result["columns"] == {
        "feature": FEATURES,
        "target": ["label"],
        "prediction": ["prediction", "proba_no", "proba_yes"],
    }
    blob = store.objects.path_for(result["digest"])
    assert json.loads(blob.read_bytes())["format"] == "mlops-baseline/1"
    shown = ok(cli("models", "show", churn, "--json"))
    assert [a["digest"] for a in shown["artifacts"] if a["kind"] == "baseline"] == [result["digest"]]
    events = ok(cli("audit", "log", "--action", "monitor.baseline", "--json"))
    assert events[0]["details"]["digest"] == result["digest"]
    assert ok(cli("audit", "verify", "--json"))["ok"] is True
    os.chmod(blob, 0o644)  # a flipped byte in the baseline is caught like any blob's
    blob.write_bytes(blob.read_bytes().replace(b"mlops-baseline/1", b"mlops-baseline/2"))
    tampered = cli("audit", "verify", "--json")
    assert tampered.exit_code == 5 and any(result["digest"] in p for p in tampered.json["problems"])


def test_known_shifts_flag_exactly_the_shifted_columns(cli, project, churn):
    write(frame(20_000, 0), project / "train.parquet")
    write(frame(10_000, 1, {"f1": 0.4, "f3": -0.5}), project / "today.csv")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet", "--target", "label"))
    result = ok(cli("monitor", "check", churn, "--data", "today.csv", "--json"))
    columns = by_name(result)
    features = {n for n, c in columns.items() if c["role"] == "feature" and c["drift"]}
    assert features == {"f1", "f3"}
    assert all(columns[f]["metric"] == "wasserstein" and columns[f]["threshold"] == 0.1 for f in FEATURES)
    assert result["share_drifted"] == 0.5 and result["dataset_drift"] is True  # 0.5 >= --drift-share 0.5
    assert result["drifted_columns"][:2] == ["f3", "f1"]  # most drifted first
    assert result["mode"] == "baseline" and result["rows"] == 10_000
    assert columns["label"]["role"] == "target" and not columns["label"]["drift"]
    event = ok(cli("audit", "log", "--action", "drift.detected", "--json"))[0]
    assert (
        event["subject"] == result["job"] and event["details"]["drifted_columns"] == result["drifted_columns"]
    )
    relaxed = ok(cli("monitor", "check", churn, "--data", "today.csv", "--drift-share", "0.75", "--json"))
    assert relaxed["dataset_drift"] is False
    assert ok(cli("audit", "log", "--action", "drift.checked", "--json"))[0]["subject"] == relaxed["job"]


def test_check_is_recorded_as_a_monitor_job(cli, project, churn, store):
    from mlops_cli.store.jobs import get_job

    write(frame(3_000, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    result = ok(cli("monitor", "check", churn, "--data", "train.parquet", "--json"))
    job = get_job(store.conn, result["job"])
    assert job.kind == "monitor" and job.status == "completed" and job.model_ref == churn
    assert job.details["dataset_drift"] is False and len(job.details["columns"]) == len(result["columns"])


def test_fail_on_drift_exits_5_with_the_result_on_stdout(cli, project, churn):
    write(frame(5_000, 0), project / "train.parquet")
    write(frame(5_000, 1, {"f0": 1.0, "f1": 1.0, "f2": 1.0}), project / "today.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    result = cli("monitor", "check", churn, "--data", "today.parquet", "--fail-on-drift", "--json")
    assert result.exit_code == 5
    assert result.json["dataset_drift"] is True
    assert result.stderr.startswith("error: dataset drift: 3 of 5 features drifted")
    assert cli("monitor", "check", churn, "--data", "train.parquet", "--fail-on-drift").exit_code == 0


def test_prediction_drift_follows_the_model(cli, project, churn):
    write(frame(5_000, 0), project / "train.parquet")
    write(frame(5_000, 1, {"f0": 1.5}), project / "today.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    result = ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json"))
    assert result["prediction_drift"]["drift"] is True
    assert "proba_yes" in result["prediction_drift"]["columns"]
    assert by_name(result)["prediction"]["kind"] == "categorical"


def test_reference_file_gives_scipy_exactly(cli, project, churn):
    reference, current = frame(800, 0), frame(900, 1, {"f2": 0.3})
    write(reference, project / "ref.parquet")
    write(current, project / "cur.csv")
    current = pacsv.read_csv(project / "cur.csv")  # the values as the file holds them
    result = ok(cli("monitor", "check", churn, "--data", "cur.csv", "--reference", "ref.parquet", "--json"))
    assert result["mode"] == "reference" and result["baseline"] is None
    for name in FEATURES:
        column = by_name(result)[name]
        expected = stats.ks_2samp(reference[name].to_numpy(), current[name].to_numpy())
        assert column["metric"] == "ks"  # <= 1,000 reference rows
        assert column["score"] == expected.statistic and column["p_value"] == expected.pvalue
        assert column["drift"] == (expected.pvalue < 0.05)
    result = ok(
        cli(
            "monitor",
            "check",
            churn,
            "--data",
            "cur.csv",
            "--reference",
            "ref.parquet",
            "--metric",
            "wasserstein",
            "--json",
        )
    )
    for name in FEATURES:
        ref, cur = reference[name].to_numpy(), current[name].to_numpy()
        expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
        assert by_name(result)[name]["score"] == pytest.approx(expected, rel=1e-12)  # summation order


def test_baseline_statistics_within_bounds_of_scipy(cli, project, churn):
    reference, current = frame(20_000, 0), frame(15_000, 1, {"f0": 0.05, "f1": 0.3})
    write(reference, project / "train.parquet")
    write(current, project / "today.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    wasserstein = by_name(ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json")))
    ks = by_name(ok(cli("monitor", "check", churn, "--data", "today.parquet", "--metric", "ks", "--json")))
    for name in FEATURES:
        ref, cur = reference[name].to_numpy(), current[name].to_numpy()
        assert wasserstein[name]["score"] == pytest.approx(
            stats.wasserstein_distance(ref, cur) / np.std(ref), rel=0.01
        )
        assert abs(ks[name]["score"] - stats.ks_2samp(ref, cur).statistic) <= 0.002


def test_columns_threshold_and_metric_options(cli, project, churn):
    write(frame(3_000, 0), project / "train.parquet")
    write(frame(3_000, 1, {"f0": 0.3}), project / "today.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    result = ok(
        cli(
            "monitor",
            "check",
            churn,
            "--data",
            "today.parquet",
            "--columns",
            "f0,f1",
            "--metric",
            "psi",
            "--threshold",
            "0.5",
            "--json",
        )
    )
    assert [c["name"] for c in result["columns"]] == ["f0", "f1"]
    assert all(c["metric"] == "psi" and c["threshold"] == 0.5 for c in result["columns"])
    assert result["prediction_drift"]["checked"] is False


def test_categorical_columns_missing_extra_empty_and_constant(cli, project, plain):
    rng = np.random.default_rng(0)
    n = 4_000
    train = pa.table(
        {
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "age": rng.normal(40, 10, n),
            "constant": np.full(n, 3.0),
            "score": rng.normal(0, 1, n),
            "code": rng.integers(0, 9, n),
        }
    )
    write(train, project / "train.parquet")
    ok(cli("monitor", "baseline", plain, "--data", "train.parquet", "--categorical", "code"))
    today = pa.table(
        {
            "city": rng.choice(["paris", "lyon", "lille"], n, p=[0.4, 0.3, 0.3]),
            "age": pa.array([None] * n, pa.float64()),
            "constant": np.full(n, 3.0),
            "code": rng.integers(0, 9, n),
            "new_col": np.ones(n),
        }
    )
    write(today, project / "today.parquet")
    result = ok(cli("monitor", "check", plain, "--data", "today.parquet", "--json"))
    columns = by_name(result)
    assert result["missing_columns"] == ["score"] and columns["score"]["status"] == "missing"
    assert result["extra_columns"] == ["new_col"]
    assert columns["age"]["status"] == "empty" and columns["age"]["quality"]["missing_rate_current"] == 1.0
    assert result["empty_columns"] == ["age"]
    assert columns["constant"]["drift"] is False and columns["constant"]["score"] == 0.0
    city = columns["city"]
    assert city["kind"] == "categorical" and city["metric"] == "jensenshannon" and city["drift"] is True
    assert city["quality"]["unseen_categories"] == ["lille"]
    assert city["quality"]["unseen_share"] == pytest.approx(0.3, abs=0.03)
    assert columns["code"]["kind"] == "categorical" and columns["code"]["drift"] is False
    assert result["features_checked"] == 3  # city, constant, code: age is empty, score missing


def test_out_of_range_share(cli, project, plain):
    write(pa.table({"x": np.linspace(0, 1, 5_000)}), project / "train.parquet")
    ok(cli("monitor", "baseline", plain, "--data", "train.parquet"))
    write(pa.table({"x": np.linspace(0.5, 1.5, 4_000)}), project / "today.parquet")
    x = by_name(ok(cli("monitor", "check", plain, "--data", "today.parquet", "--json")))["x"]
    assert x["quality"]["out_of_range_share"] == pytest.approx(0.5, abs=0.001)


def test_human_output_is_a_table_and_a_verdict(cli, project, churn):
    write(frame(2_000, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    result = cli("monitor", "check", churn, "--data", "train.parquet")
    assert result.exit_code == 0, result.stderr
    assert "Dataset: no drift (0 of 5 features drifted" in result.stdout
    assert "wasserstein" in result.stdout


def test_no_baseline_says_which_command_makes_one(cli, project, churn):
    write(frame(100, 0), project / "today.parquet")
    one_line_error(
        cli("monitor", "check", churn, "--data", "today.parquet"),
        1,
        "no monitoring baseline",
        "mlops monitor baseline churn:1",
    )


def test_empty_input_is_one_error_line(cli, project, churn):
    write(frame(500, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    write(frame(0, 0), project / "empty.parquet")
    one_line_error(cli("monitor", "check", churn, "--data", "empty.parquet"), 1, "no rows")
    (project / "empty.csv").write_text("")
    one_line_error(cli("monitor", "check", churn, "--data", "empty.csv"), 1, "empty")
    one_line_error(cli("monitor", "baseline", churn, "--data", "empty.parquet"), 1, "no rows")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--data", "train.parquet", "--metric", "bogus"], "unknown metric"),
        (["--data", "train.parquet", "--since", "1d"], "--since"),
        (["--data", "train.parquet", "--columns", "nope"], "nope"),
        (["--data", "train.parquet", "--drift-share", "0"], "--drift-share"),
        (["--data", "train.parquet", "--report", "out.pdf"], ".html"),
        ([], "exactly one of"),
        (["--data", "train.parquet", "--collected", "x"], "exactly one of"),
        (["--collected", "c", "--since", "yesterday"], "--since"),
    ],
)
def test_bad_options_exit_2(cli, project, churn, args, needle):
    write(frame(500, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    (project / "c").mkdir()
    write(frame(10, 0), project / "c" / "requests-20260101T000000-1-00001.parquet")
    one_line_error(cli("monitor", "check", churn, *args), 2, needle)


def test_deployment_without_collected_data(cli, project, churn):
    write(frame(500, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    one_line_error(cli("monitor", "check", churn, "--deployment", "web"), 1, "no deployment named 'web'")
    (project / ".mlops" / "deployments" / "web").mkdir(parents=True)
    one_line_error(cli("monitor", "check", churn, "--deployment", "web"), 1, "no collected data", "--collect")


def test_baseline_bad_input(cli, project, churn):
    write(frame(100, 0), project / "train.parquet")
    one_line_error(cli("monitor", "baseline", churn, "--data", "missing.csv"), 1, "no such file")
    one_line_error(
        cli("monitor", "baseline", churn, "--data", "train.parquet", "--target", "nope"), 2, "--target"
    )
    one_line_error(cli("monitor", "baseline", churn), 2, "--data")
    write(pa.table({"f0": [1.0]}), project / "narrow.parquet")
    one_line_error(cli("monitor", "baseline", churn, "--data", "narrow.parquet"), 1, "f1")
    one_line_error(cli("monitor", "baseline", "nope", "--data", "train.parquet"), 1, "nope")


def test_text_in_a_numeric_column_names_the_column(cli, project, plain):
    (project / "train.csv").write_text("x\n" + "\n".join(str(i) for i in range(50)) + "\n")
    ok(cli("monitor", "baseline", plain, "--data", "train.csv"))
    (project / "today.csv").write_text("x\n1\nabc\n")
    one_line_error(cli("monitor", "check", plain, "--data", "today.csv"), 1, "'x'", "--categorical")


def test_sample_limits_the_rows(cli, project, churn):
    write(frame(3_000, 0), project / "train.parquet")
    result = ok(cli("monitor", "baseline", churn, "--data", "train.parquet", "--sample", "1000", "--json"))
    assert result["rows"] == 1_000


def test_report_of_200_columns_stays_under_2_mb(cli, project, plain):
    rng = np.random.default_rng(0)
    n = 3_000
    columns = {f"n{i}": rng.normal(0, 1, n) for i in range(180)}
    columns.update({f"c{i}": rng.choice([f"v{j}" for j in range(25)], n) for i in range(20)})
    write(pa.table(columns), project / "train.parquet")
    shifted = {k: (v + 0.5 if k.startswith("n") and int(k[1:]) % 2 else v) for k, v in columns.items()}
    write(pa.table(shifted), project / "today.parquet")
    ok(cli("monitor", "baseline", plain, "--data", "train.parquet"))
    result = ok(cli("monitor", "check", plain, "--data", "today.parquet", "--report", "drift.html", "--json"))
    report = Path(result["report"])
    assert report == project / "drift.html"
    text = report.read_text()
    assert len(text.encode()) < 2_000_000
    assert text.count("<svg") == 200 and text.count("<tr") == 201
    assert result["features_drifted"] == 90


def test_json_lines_baseline_and_csv_check_agree_with_parquet(cli, project, churn):
    import json as jsonlib

    train = frame(3_000, 0)
    with open(project / "train.jsonl", "w") as out:
        for row in train.to_pylist():
            out.write(jsonlib.dumps(row) + "\n")
    write(train, project / "train.parquet")
    write(frame(2_000, 1, {"f2": 0.5}), project / "today.parquet")
    from_jsonl = ok(cli("monitor", "baseline", churn, "--data", "train.jsonl", "--json"))
    first = ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json"))
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    second = ok(cli("monitor", "check", churn, "--data", "today.parquet", "--json"))
    assert from_jsonl["rows"] == 3_000
    assert first["drifted_columns"] == second["drifted_columns"] and "f2" in first["drifted_columns"]
    for a, b in zip(first["columns"], second["columns"], strict=True):
        assert a["name"] == b["name"] and a["score"] == pytest.approx(b["score"], rel=1e-9)


def test_model_with_text_and_integer_inputs(cli, project, store):
    """One ONNX input per column (string, float, int64): the reader types each column as the
    model needs, the text column is compared as categories, the model runs on every chunk."""
    from tests.serving_helpers import mixed_onnx

    register_onnx(store, mixed_onnx(project), "mixed", features=None)
    rng = np.random.default_rng(0)

    def table(n: int, cities: list[str], p: list[float]) -> pa.Table:
        return pa.table(
            {
                "city": rng.choice(cities, n, p=p),
                "age": rng.normal(0, 1, n).astype(np.float32),
                "count": rng.integers(0, 5, n),
            }
        )

    write(table(3_000, ["a", "b", "c"], [0.4, 0.3, 0.3]), project / "train.csv")
    write(table(2_000, ["a", "b", "c", "z"], [0.1, 0.1, 0.4, 0.4]), project / "today.csv")
    baseline = ok(cli("monitor", "baseline", "mixed", "--data", "train.csv", "--json"))
    assert baseline["columns"]["feature"] == ["city", "age", "count"]
    assert "city" in baseline["categorical"] and baseline["columns"]["prediction"]
    result = ok(cli("monitor", "check", "mixed", "--data", "today.csv", "--json"))
    columns = by_name(result)
    assert columns["city"]["drift"] is True and columns["city"]["quality"]["unseen_categories"] == ["z"]
    assert columns["age"]["drift"] is False and columns["count"]["drift"] is False
    assert result["prediction_drift"]["checked"] is True


def test_a_model_whose_feature_names_were_not_recorded(cli, project, store):
    """An ONNX file from elsewhere (input X of 4 columns, no names): without --features the
    predictions are not monitored and the user is told so; with it they are, and the check
    takes the baseline's --features, refusing others (its predictions were computed with those).
    The data is a ";" CSV, as a spreadsheet saves it."""
    register_onnx(store, logistic_onnx(project), "raw", features=None)
    renamed = ["a", "b", "c", "d"]
    for name, table in (("train", frame(3_000, 0)), ("today", frame(3_000, 1, {"f0": 1.5}))):
        table = table.rename_columns([*renamed, "label"])
        pacsv.write_csv(table, project / "plain.csv")
        (project / f"{name}.csv").write_text((project / "plain.csv").read_text().replace(",", ";"))
    without = cli("monitor", "baseline", "raw:1", "--data", "train.csv", "--json")
    assert without.exit_code == 0 and "features whose column names were not recorded" in without.stderr
    assert without.json["columns"]["prediction"] == []
    baseline = ok(
        cli("monitor", "baseline", "raw:1", "--data", "train.csv", "--features", "a,b,c,d", "--json")
    )
    assert baseline["columns"]["prediction"] == ["prediction", "proba_0", "proba_1"]
    assert baseline["data"]["features"] == renamed
    result = ok(cli("monitor", "check", "raw:1", "--data", "today.csv", "--json"))
    assert result["prediction_drift"]["drift"] is True  # a was shifted, and a feeds the model
    proba = by_name(result)["proba_1"]
    assert proba["status"] == "checked" and proba["current"]["missing"] == 0 == proba["reference"]["missing"]
    one_line_error(
        cli("monitor", "check", "raw:1", "--data", "today.csv", "--features", "d,c,b,a"),
        2,
        "differs from the baseline's (a,b,c,d)",
    )


def test_data_with_none_of_the_features_is_an_error_not_a_pass(cli, project, churn):
    """Columns renamed upstream: the model's inputs cannot be compared, and a verdict from the
    context columns left (`label` here) would pass CI."""
    write(frame(2_000, 0), project / "train.parquet")
    ok(cli("monitor", "baseline", churn, "--data", "train.parquet"))
    write(frame(500, 1).rename_columns(["x0", "x1", "x2", "x3", "label"]), project / "renamed.parquet")
    line = one_line_error(cli("monitor", "check", churn, "--data", "renamed.parquet", "--fail-on-drift"), 1)
    assert "none of the model's input columns is in the current data" in line and "x0" in line
