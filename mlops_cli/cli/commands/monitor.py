"""`mlops monitor ...`: baselines and drift checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefArg, StoreOpt
from mlops_cli.cli.output import Output, short_digest

app = typer.Typer(
    help="Data and prediction drift: store a baseline, then check data or served traffic against it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DataOpt = Annotated[
    Optional[list[str]],
    typer.Option("--data", help="A CSV/Parquet/JSONL file, a folder or a glob; repeatable."),
]
CategoricalOpt = Annotated[
    Optional[str],
    typer.Option("--categorical", help="Columns to compare as categories whatever their type: a,b,c."),
]
FeaturesOpt = Annotated[
    Optional[str],
    typer.Option(
        "--features",
        help="Columns feeding the model's input, in training order: a,b,c (when its names are not recorded).",
    ),
]


def _names(text: str | None) -> list[str]:
    from mlops_cli.batch.request import parse_columns

    return list(parse_columns(text) or [])


@app.command("baseline")
def baseline(
    ref: ModelRefArg,
    data: DataOpt = None,
    categorical: CategoricalOpt = None,
    target: Annotated[
        Optional[str], typer.Option("--target", help="The label column, monitored too.")
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option("--columns", help="Monitor only these columns: a,b,c (default: every column)."),
    ] = None,
    sample: Annotated[
        Optional[int], typer.Option("--sample", help="Use only the first N rows of the data.", min=1)
    ] = None,
    features: FeaturesOpt = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Store reference statistics of every column of a version's training data and of its predictions.

    The data is streamed twice (any size fits in memory); the statistics are stored with the
    version, so later checks need no training data.

    Example: mlops monitor baseline churn:3 --data train.parquet --target churned
    """
    from mlops_cli.monitor.baseline import create_baseline

    out = Output(json)
    with store_for(store) as opened:
        result = create_baseline(
            opened,
            ref,
            tuple(data or ()),
            categorical=frozenset(_names(categorical)),
            target=target,
            columns=tuple(_names(columns)) or None,
            features=tuple(_names(features)) or None,
            sample=sample,
            message=message,
            progress=out,
            warn=out.warn,
        )
    summary = result.summary()
    columns = summary["columns"]
    out.result(
        summary,
        f"Baseline of {result.model} from {result.rows:,} rows ({short_digest(result.digest or '')}):"
        f" {len(columns['feature'])} features, {len(columns['target'])} target,"
        f" {len(columns['prediction'])} prediction columns",
    )


@app.command("check")
def check(
    ref: ModelRefArg,
    data: DataOpt = None,
    deployment: Annotated[
        Optional[str], typer.Option("--deployment", help="Check what this deployment collected.")
    ] = None,
    since: Annotated[
        Optional[str],
        typer.Option(
            "--since", help="Served data from this time on: 2026-11-01, 2026-11-01T12:00, 30m, 12h, 7d."
        ),
    ] = None,
    collected: Annotated[
        Optional[Path], typer.Option("--collected", help="A folder written by `mlops serve --collect`.")
    ] = None,
    reference: Annotated[
        Optional[list[str]],
        typer.Option(
            "--reference", help="Compare with this file directly (exact statistics), not the baseline."
        ),
    ] = None,
    categorical: CategoricalOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help="auto, ks, wasserstein, psi, jensenshannon or chi2.")
    ] = "auto",
    threshold: Annotated[
        Optional[float],
        typer.Option("--threshold", help="Drift threshold for every column; default: the metric's own."),
    ] = None,
    drift_share: Annotated[
        float, typer.Option("--drift-share", help="Share of drifted features that means dataset drift.")
    ] = 0.5,
    columns: Annotated[
        Optional[str], typer.Option("--columns", help="Check only these columns: a,b,c.")
    ] = None,
    report: Annotated[
        Optional[Path], typer.Option("--report", help="Also write a self-contained HTML report here.")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 5 when the dataset drifted (for CI).")
    ] = False,
    features: FeaturesOpt = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Check data, or a served model's traffic, for drift against the version's baseline.

    Per column: the metric, its score, the p-value where it has one, the threshold and the
    verdict; the dataset verdict; prediction drift; data quality; for served data also the
    request count, error rate and latency. Each check is recorded as a job.

    Example: mlops monitor check churn:3 --data 'data/2026-11-*.parquet' --report drift.html --fail-on-drift
    """
    from mlops_cli.monitor.check import CheckRequest, gate, run_check

    out = Output(json)
    request = CheckRequest(
        model=ref,
        data=tuple(data or ()),
        deployment=deployment,
        collected=collected,
        since=since,
        reference=tuple(reference or ()),
        categorical=frozenset(_names(categorical)),
        metric=metric,
        threshold=threshold,
        drift_share=drift_share,
        columns=tuple(_names(columns)) or None,
        features=tuple(_names(features)) or None,
        report=report,
        message=message,
    )
    with store_for(store) as opened:
        result = run_check(opened, request, progress=out, warn=out.warn)
    out.result(result, lambda console: _render(console, result))
    gate(result, fail_on_drift)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _render(console: Any, result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for header in (
        "column",
        "role",
        "kind",
        "metric",
        "score",
        "p-value",
        "threshold",
        "drift",
        "missing",
        "note",
    ):
        table.add_column(header)
    for c in result["columns"]:
        quality = c["quality"]
        missing = quality.get("missing_rate_current") if quality else None
        table.add_row(
            c["name"],
            c["role"],
            c["kind"],
            _fmt(c["metric"]),
            _fmt(c["score"]),
            _fmt(c["p_value"]),
            _fmt(c["threshold"]),
            "DRIFT" if c["drift"] else ("-" if c["status"] != "checked" else "ok"),
            f"{missing:.1%}" if missing is not None else "-",
            c["note"] or ("" if c["status"] == "checked" else c["status"]),
        )
    console.print(table)
    verdict = "DRIFT" if result["dataset_drift"] else "no drift"
    console.print(
        f"Dataset: {verdict} ({result['features_drifted']} of {result['features_checked']} features drifted,"
        f" share {result['share_drifted']:.2f}, limit {result['drift_share']}); {result['rows']:,} rows;"
        f" job {result['job']}",
        markup=False,
    )
    prediction = result["prediction_drift"]
    if prediction["checked"]:
        console.print(
            "Predictions: "
            + ("DRIFT in " + ", ".join(prediction["columns"]) if prediction["drift"] else "no drift"),
            markup=False,
        )
    for key, label in (("missing_columns", "Missing"), ("extra_columns", "Ignored (not in the baseline)")):
        if result[key]:
            console.print(f"{label}: {', '.join(result[key])}", markup=False)
    served = result.get("served")
    if served:
        latency = served.get("latency_ms") or {}
        rate = served.get("error_rate")
        console.print(
            f"Served: {served['requests']:,} requests"
            + (f", error rate {rate:.2%}" if rate is not None else "")
            + (f", latency p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms" if latency else ""),
            markup=False,
        )
    if result.get("report"):
        console.print(f"Report: {result['report']}", markup=False)
