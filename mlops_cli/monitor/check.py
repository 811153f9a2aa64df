"""`mlops monitor check`: current data against a baseline (or a reference file), recorded.

The current data (files, or what a served model collected) is read once, streamed, and counted
over the baseline's knots; with `--reference` both files are held in memory and compared with
scipy's exact functions. Each check is a `monitor` job with a `drift.detected` or
`drift.checked` audit event, written in one transaction once the result is known.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_cli import durations
from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import NoProgress, ProgressSink
from mlops_cli.errors import CheckFailedError, UsageError
from mlops_cli.monitor import metrics, scan, served
from mlops_cli.monitor.baseline import (
    FEATURE,
    PREDICTION,
    TARGET,
    Baseline,
    Column,
    load_baseline,
    load_predictor,
    roles_for,
)
from mlops_cli.monitor.compare import ColumnCheck, Sides, compare_column
from mlops_cli.monitor.scan import CATEGORICAL, Table
from mlops_cli.runtime.mapping import InputError
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store

KIND = "monitor"


@dataclass
class CheckRequest:
    model: str
    data: tuple[str, ...] = ()
    deployment: str | None = None
    collected: Path | None = None
    since: str | None = None
    reference: tuple[str, ...] = ()
    categorical: frozenset[str] = frozenset()
    metric: str = "auto"
    threshold: float | None = None
    drift_share: float = 0.5
    columns: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None  # the model's input columns; default: the baseline's
    report: Path | None = None
    message: str | None = None

    def validate(self) -> None:
        sources = [bool(self.data), self.deployment is not None, self.collected is not None]
        if sum(sources) != 1:
            raise UsageError("give exactly one of --data, --deployment or --collected")
        if self.since is not None and self.data:
            raise UsageError("--since applies to served data (--deployment or --collected)")
        metrics.check_metric(self.metric)
        if not 0 < self.drift_share <= 1:
            raise UsageError("--drift-share must be in (0, 1]")
        if self.threshold is not None and self.threshold < 0:
            raise UsageError("--threshold must be 0 or more")
        if self.report is not None and self.report.suffix.lower() not in (".html", ".htm"):
            raise UsageError("--report must name an .html file")


def _baseline_features(request: CheckRequest, baseline: Baseline) -> tuple[str, ...] | None:
    """The columns the baseline's predictions were computed from: a check must use the same."""
    recorded = tuple(baseline.data.get("features") or ()) or None
    if request.features and request.features != recorded:
        shown = ",".join(recorded) if recorded else "the model's own names"
        raise UsageError(
            f"--features {','.join(request.features)} differs from the baseline's ({shown}):"
            " its predictions were computed with those",
            hint="leave --features out, or make a new baseline with it",
        )
    return recorded


def run_check(
    store: Store,
    request: CheckRequest,
    *,
    progress: ProgressSink | None = None,
    warn: Any = None,
) -> dict[str, Any]:
    """Check drift and data quality; record a `monitor` job and its event; return the result.

    Raises NotFoundError (no baseline, no such deployment or file, nothing collected),
    UsageError (bad options) and InputError (unreadable or empty data).
    """
    from mlops_cli.models.manage import show_version
    from mlops_cli.store.events import utc_now

    scan.require()
    request.validate()
    started = time.perf_counter()
    progress = progress or NoProgress()
    version = show_version(store, request.model)
    baseline: Baseline | None = None
    predictor = None
    if request.reference:
        reference_table = scan.open_table(request.reference, request.categorical)
        predictor = load_predictor(store, version, warn, request.features)
        roles, kinds = roles_for(reference_table, predictor, None, request.columns, request.categorical)
    else:
        baseline = load_baseline(store, version)
        roles = {c.name: c.role for c in baseline.columns.values()}
        kinds = {c.name: c.kind for c in baseline.columns.values()}
        if any(r == PREDICTION for r in roles.values()):
            predictor = load_predictor(store, version, None, _baseline_features(request, baseline))

    folder, source = _source(store, request)
    current = _current_table(request, folder, kinds)
    if folder is not None and predictor is not None:
        _name_served_features(current, predictor)
    wanted = list(dict.fromkeys(request.columns)) if request.columns else list(roles)
    _check_named(request, wanted, roles, kinds)
    available = set(current.columns)
    run_model = (
        predictor is not None
        and any(roles[c] == PREDICTION and c not in available for c in wanted)
        and all(c in available for c in predictor.schema.columns)
    )
    missing = [c for c in wanted if c not in available and not (roles[c] == PREDICTION and run_model)]
    named = set(request.columns or ()) | set(request.categorical)
    if any(c in named for c in missing):
        raise UsageError(
            f"the current data lacks columns named by --columns or --categorical:"
            f" {', '.join(c for c in missing if c in named)}"
        )
    features = [c for c in wanted if roles[c] == FEATURE]
    inputs = [c for c in features if predictor is not None and c in predictor.schema.columns]
    if (inputs or features) and all(c in missing for c in inputs or features):
        # Nothing that matters can be compared (columns renamed upstream): a verdict from the
        # context columns alone, or "0 of 0 features drifted", would read as a pass.
        what = "the model's input columns" if inputs else "the features to check"
        has = [c for c in current.columns if c not in scan.COLLECTOR_COLUMNS]
        raise InputError(
            f"none of {what} is in the current data (the baseline's: {_listed(inputs or features)};"
            f" the data's: {_listed(has)})"
        )
    extra = [c for c in current.columns if c not in roles and c not in scan.COLLECTOR_COLUMNS]
    checked = [c for c in wanted if c not in missing]

    model_for_current = predictor if run_model else None
    if request.reference:
        from mlops_cli.monitor.exact import compare_exact

        predictions = {c for c in checked if roles[c] == PREDICTION}
        results, kept_reference, kept_current, rows = compare_exact(
            reference_table,
            current,
            checked,
            kinds,
            predictions,
            (predictor, model_for_current),
            lambda name, a, b: compare_column(
                Column(name, roles[name], kinds[name], a), b, request.metric, request.threshold
            ),
            progress,
            keep_for_report=request.report is not None,
        )
        reference_columns = {
            name: Column(name, roles[name], kinds[name], summary) for name, summary in kept_reference.items()
        }
        sides = Sides(reference_columns, kept_current, rows, exact=True)
    else:
        assert baseline is not None
        accumulators = {name: baseline.columns[name].summary.empty_like() for name in checked}
        with scan.worker_pool() as pool:
            rows = scan.read_into(current, accumulators, kinds, model_for_current, pool, progress, "current")
        sides = Sides(baseline.columns, accumulators, rows, exact=False)
        results = [
            compare_column(sides.columns[name], sides.current[name], request.metric, request.threshold)
            for name in checked
        ]
    if rows == 0:
        raise InputError("the current data has no rows", hint="nothing to compare")

    results += [
        ColumnCheck(name, roles[name], kinds[name], "missing", note="not in the current data")
        for name in missing
    ]
    result = _summarise(request, version, baseline, source, current, rows, results, extra, sides.exact)
    job_id = f"mon-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    result["job"] = job_id
    result["checked_at"] = utc_now()
    if folder is not None:
        result["served"] = served.traffic(folder, _since(request.since))
    if request.report is not None:
        from mlops_cli.monitor.report import write_report

        result["report"] = str(write_report(request.report, result, sides))
    result["duration_s"] = round(time.perf_counter() - started, 3)
    action = "drift.detected" if result["dataset_drift"] else "drift.checked"
    job_store.record_job(
        store.conn,
        job_id,
        KIND,
        version.ref,
        version.digest,
        "completed",
        _job_details(result),
        action,
        _event_details(result),
        provenance(request.message),
    )
    return result


def _check_named(
    request: CheckRequest, wanted: list[str], roles: dict[str, str], kinds: dict[str, str]
) -> None:
    """A column named by --columns or --categorical that would not be compared as asked is a
    UsageError, never silence."""
    where = "the reference" if request.reference else "the baseline"
    unknown = [c for c in wanted if c not in roles]
    if unknown:
        raise UsageError(f"--columns names columns {where} lacks: {', '.join(unknown)}")
    left_out = sorted(c for c in request.categorical if c not in wanted)
    if left_out:
        raise UsageError(f"--categorical names columns that are not checked: {', '.join(left_out)}")
    numeric = sorted(c for c in request.categorical if kinds.get(c) != CATEGORICAL)
    if numeric:
        raise UsageError(
            f"--categorical names columns {where} holds as numbers: {', '.join(numeric)}",
            hint="make a new baseline with --categorical to compare them as categories",
        )


def gate(result: dict[str, Any], fail_on_drift: bool) -> None:
    """`--fail-on-drift`: CheckFailedError (exit 5) when the dataset drifted."""
    if fail_on_drift and result["dataset_drift"]:
        drifted = [c["name"] for c in result["columns"] if c["drift"] and c["role"] == FEATURE]
        raise CheckFailedError(
            f"dataset drift: {len(drifted)} of {result['features_checked']} features drifted"
            f" ({', '.join(drifted[:10])}{', ...' if len(drifted) > 10 else ''})",
            report=result,
        )


# --- sources -----------------------------------------------------------------------------------


def _source(store: Store, request: CheckRequest) -> tuple[Path | None, dict[str, Any]]:
    if request.deployment is not None:
        folder = served.deployment_folder(store.paths.root, request.deployment)
        served.collected_files(folder, f"deployment {request.deployment!r}")
        return folder, {"kind": "deployment", "deployment": request.deployment, "folder": str(folder)}
    if request.collected is not None:
        folder = Path(request.collected)
        served.collected_files(folder, f"folder {folder}")
        return folder, {"kind": "collected", "folder": str(folder.absolute())}
    return None, {"kind": "data"}


def _since(text: str | None) -> datetime | None:
    """`--since` for served traffic: None keeps everything."""
    return durations.parse_since(text) if text else None


def _current_table(request: CheckRequest, folder: Path | None, kinds: dict[str, str]) -> Table:
    if folder is None:
        paths = request.data
    else:
        paths = tuple(str(p) for p in served.collected_files(folder, str(folder)))
    from mlops_cli.batch.inputs import check_same_columns, resolve_inputs

    present = set(check_same_columns(resolve_inputs(paths)))
    categorical = {c for c, k in kinds.items() if k == CATEGORICAL and c in present} | (
        set(request.categorical) & present
    )
    table = scan.open_table(paths, categorical)
    for name in table.columns:  # the reference decides how a column is compared
        if name in kinds:
            table.kinds[name] = kinds[name]
    if folder is not None:
        table.extra_filter = served.since_filter(_since(request.since))
        table.filter_columns = ("ts",)
    return table


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "") if names else "none"


def _name_served_features(table: Table, predictor: Any) -> None:
    """Served data of a model whose feature names were not recorded has its input's columns as
    the collector names them (`X_0`, `X_1`, ...); read them under the names `--features` gave
    the baseline (`a`, `b`, ...), so they are compared with the baseline's columns."""
    schema = predictor.schema
    if schema.layout != "tensor" or not schema.features:
        return
    collected = {name: f"{schema.inputs[0].name}_{j}" for j, name in enumerate(schema.features)}
    if any(name in table.columns for name in collected) or not all(
        column in table.columns for column in collected.values()
    ):
        return
    back = {column: name for name, column in collected.items()}
    table.columns = [back.get(c, c) for c in table.columns]
    table.kinds = {back.get(c, c): kind for c, kind in table.kinds.items()}
    table.renames = collected


def _summarise(
    request: CheckRequest,
    version: Any,
    baseline: Baseline | None,
    source: dict[str, Any],
    current: Table,
    rows: int,
    results: list[ColumnCheck],
    extra: list[str],
    exact: bool,
) -> dict[str, Any]:
    features = [r for r in results if r.role == FEATURE and r.status == "checked"]
    drifted = [r for r in features if r.drift]
    share = len(drifted) / len(features) if features else 0.0
    predictions = [r for r in results if r.role == PREDICTION and r.status == "checked"]
    targets = [r for r in results if r.role == TARGET and r.status == "checked"]
    ordered = sorted(results, key=_order)
    return {
        "model": version.ref,
        "model_digest": version.digest,
        "mode": "reference" if exact else "baseline",
        "baseline": baseline.summary() if baseline is not None else None,
        "reference": list(request.reference) or None,
        "source": {**source, **current.to_dict()},
        "rows": rows,
        "metric": request.metric,
        "threshold": request.threshold,
        "drift_share": request.drift_share,
        "dataset_drift": bool(features) and share >= request.drift_share,
        "features_checked": len(features),
        "features_drifted": len(drifted),
        "share_drifted": share,
        "drifted_columns": [r.name for r in ordered if r.drift],
        "prediction_drift": {
            "checked": bool(predictions),
            "drift": any(r.drift for r in predictions),
            "columns": [r.name for r in predictions if r.drift],
        },
        "target_drift": {"checked": bool(targets), "drift": any(r.drift for r in targets)},
        "missing_columns": [r.name for r in results if r.status == "missing"],
        "extra_columns": extra,
        "empty_columns": [r.name for r in results if r.status == "empty"],
        "columns": [r.to_dict() for r in ordered],
        "served": None,
        "report": None,
    }


def _order(check: ColumnCheck) -> tuple[int, float, str]:
    """Drifted first, then by how far past its threshold each column is; unchecked ones last."""
    if check.status != "checked" or check.score is None or check.threshold is None:
        return (2, 0.0, check.name)
    if check.metric in metrics.P_VALUE:
        p = check.p_value if check.p_value is not None else 1.0
        severity = -(check.threshold / max(p, 1e-300))
    else:
        severity = -(check.score / max(check.threshold, 1e-12))
    return (0 if check.drift else 1, severity, check.name)


def _job_details(result: dict[str, Any]) -> dict[str, Any]:
    columns = [
        {
            k: c[k]
            for k in ("name", "role", "kind", "status", "metric", "score", "p_value", "threshold", "drift")
        }
        for c in result["columns"]
    ]
    return {**{k: v for k, v in result.items() if k != "columns"}, "columns": columns}


def _event_details(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "mode",
        "rows",
        "metric",
        "drift_share",
        "dataset_drift",
        "features_checked",
        "features_drifted",
        "share_drifted",
        "drifted_columns",
        "prediction_drift",
        "missing_columns",
        "report",
        "served",
    )
    details = {k: result.get(k) for k in keys}
    details["baseline"] = result["baseline"]["digest"] if result["baseline"] else None
    details["source"] = result["source"]
    return details
