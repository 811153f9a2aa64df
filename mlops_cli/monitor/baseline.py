"""Baselines: reference statistics of a version's training data (and its predictions), stored.

A baseline is one JSON blob in the content-addressed store (arrays as base64 little-endian
bytes: exact, compact, readable with nothing but the standard library) recorded as a
`baseline` artifact of the version, with a `monitor.baseline` audit event, so `gc` keeps it and
`models show` lists it. A later check reads only this blob, never the training data.

Computing it takes two streamed passes over the data: the first places each numeric column's
knots (moments, distinct values, a reservoir sample, or every value when few), the second
counts the values over those knots (see `sketch.py`).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import ModelRef, ModelVersion, NoProgress, ProgressSink
from mlops_cli.errors import NotFoundError, StoreError, UsageError
from mlops_cli.monitor import scan
from mlops_cli.monitor.categories import Categories
from mlops_cli.monitor.scan import CATEGORICAL, NUMERIC, Table
from mlops_cli.monitor.sketch import EXACT_LIMIT, KNOTS, Binned, NumericScan
from mlops_cli.runtime.mapping import InputError
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store

if TYPE_CHECKING:
    from mlops_cli.runtime.predictor import Predictor

FORMAT = "mlops-baseline/1"
FEATURE, TARGET, PREDICTION = "feature", "target", "prediction"


@dataclass
class Column:
    name: str
    role: str  # feature, target or prediction
    kind: str  # numeric or categorical
    summary: Binned | Categories

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "kind": self.kind, "summary": self.summary.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        summary_type = Binned if data["kind"] == NUMERIC else Categories
        return cls(data["name"], data["role"], data["kind"], summary_type.from_dict(data["summary"]))


@dataclass
class Baseline:
    model: str
    model_digest: str
    created_at: str
    rows: int
    data: dict[str, Any]
    columns: dict[str, Column]
    digest: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "model": self.model,
                "model_digest": self.model_digest,
                "created_at": self.created_at,
                "rows": self.rows,
                "data": self.data,
                "sketch": {"knots": KNOTS, "exact_limit": EXACT_LIMIT},
                "columns": [c.to_dict() for c in self.columns.values()],
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, digest: str) -> Baseline:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise StoreError(f"baseline {digest} has an unknown format {data.get('format')!r}")
        columns = [Column.from_dict(c) for c in data["columns"]]
        return cls(
            data["model"],
            data["model_digest"],
            data["created_at"],
            data["rows"],
            data["data"],
            {c.name: c for c in columns},
            digest,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "model": self.model,
            "created_at": self.created_at,
            "rows": self.rows,
            "columns": {
                role: [c.name for c in self.columns.values() if c.role == role]
                for role in (FEATURE, TARGET, PREDICTION)
            },
            "categorical": [c.name for c in self.columns.values() if c.kind == CATEGORICAL],
            "data": self.data,
        }


# --- the model ---------------------------------------------------------------------------------


def load_predictor(
    store: Store, version: ModelVersion, warn: Any = None, features: tuple[str, ...] | None = None
) -> Predictor | None:
    """The version's predictor through the runtime layer, or None for a model that is not ONNX
    or whose input columns are not known (`features` names them, as score-batch's option)."""
    from mlops_cli.runtime.loader import onnx_entry, resolve_onnx
    from mlops_cli.runtime.predictor import Predictor

    try:
        onnx_entry(version)
    except UsageError:
        if warn is not None:
            warn(
                f"{version.ref} is a {version.framework} model, not ONNX: predictions are not"
                f" monitored (run `mlops convert {version.ref}` and monitor the ONNX version)"
            )
        return None
    model = resolve_onnx(store, version.ref)
    predictor = Predictor.from_path(
        model.model_path,
        signature=model.signature,
        features=features or None,
        class_labels=model.class_labels,
        digest=model.model_digest,
    )
    schema = predictor.schema
    if schema.layout == "tensor" and schema.features is None:
        # Which data column is which of the model's features is not recorded: every row would
        # fail to map and the predictions' statistics would be all missing, saying nothing.
        if warn is not None:
            warn(
                f"{version.ref}'s input {schema.inputs[0].name!r} takes"
                f" {schema.inputs[0].width or 'several'} features whose column names were not"
                " recorded: predictions are not monitored (pass --features a,b,c, in training"
                " order)"
            )
        return None
    return predictor


def roles_for(
    table: Table,
    predictor: Predictor | None,
    target: str | None,
    columns: tuple[str, ...] | None = None,
    categorical: frozenset[str] | set[str] = frozenset(),
) -> tuple[dict[str, str], dict[str, str]]:
    """(role per column, kind per column): every column of the data (the collector's own
    excepted) or only those named in `columns`, the target, and the model's output columns.

    As Evidently and Azure ML do, context columns (region, channel, free text) are monitored as
    well as the model's inputs. A column named by an option that would end up unmonitored or
    absent is a UsageError, never silence.
    """
    if target is not None and target not in table.columns:
        raise UsageError(f"--target {target!r} is not a column of the data")
    if predictor is not None and predictor.schema.columns:
        lacking = [c for c in predictor.schema.columns if c not in table.columns]
        if lacking:
            raise InputError(f"the data lacks the model's input columns: {', '.join(lacking)}")
    outputs = scan.prediction_kinds(predictor) if predictor is not None else {}
    if columns:
        unknown = [c for c in columns if c not in table.columns and c not in outputs]
        if unknown:
            raise UsageError(f"--columns names columns the data lacks: {', '.join(unknown)}")
        candidates = list(dict.fromkeys(columns))
    else:
        candidates = [c for c in table.columns if c not in scan.COLLECTOR_COLUMNS]
    # A data column named as a model output (collected traffic) is that output, monitored as one.
    features = [c for c in candidates if c != target and c not in outputs]
    left_out = sorted(set(categorical) - set(features) - {target})
    if left_out:
        raise UsageError(f"--categorical names columns that are not monitored: {', '.join(left_out)}")
    roles: dict[str, str] = dict.fromkeys(features, FEATURE)
    kinds = dict(table.kinds)
    if target is not None:
        if target in outputs:
            raise UsageError(f"--target {target!r} is also the name of a model output")
        roles[target] = TARGET
    for name, kind in outputs.items():
        roles[name], kinds[name] = PREDICTION, kind
    return roles, kinds


# --- computing ---------------------------------------------------------------------------------


def reference_statistics(
    table: Table,
    roles: dict[str, str],
    kinds: dict[str, str],
    predictor: Predictor | None,
    *,
    limit: int | None = None,
    progress: ProgressSink | None = None,
) -> tuple[dict[str, Binned | Categories], int]:
    """Reference statistics of every column in `roles`: two passes, see the module docstring."""
    progress = progress or NoProgress()
    data_columns = [c for c in roles if roles[c] != PREDICTION]
    model_dtypes = predictor.schema.column_dtypes() if predictor is not None else {}
    first: dict[str, Any] = {
        name: (NumericScan() if kinds[name] == NUMERIC else Categories()) for name in roles
    }
    rows = 0
    with scan.worker_pool() as pool, progress.task("baseline: pass 1 of 2", None, unit="rows") as advance:
        for data in _limited(scan.chunks(table, data_columns, model_dtypes, predictor), limit):
            n = scan.feed(first, kinds, data, pool)
            rows += n
            advance(n)
    if rows == 0:
        raise InputError("the data has no rows", hint="give a file with a header and at least one row")
    numeric = {
        name: Binned(acc.knots(), exact=acc.exact) for name, acc in first.items() if kinds[name] == NUMERIC
    }
    if numeric:
        with scan.worker_pool() as pool, progress.task("baseline: pass 2 of 2", rows, unit="rows") as advance:
            columns = [c for c in data_columns if c in numeric]
            needs_model = predictor if any(roles[c] == PREDICTION for c in numeric) else None
            for data in _limited(scan.chunks(table, columns, model_dtypes, needs_model), limit):
                advance(scan.feed(numeric, kinds, data, pool))
    summaries: dict[str, Binned | Categories] = {}
    for name in roles:
        summaries[name] = numeric[name] if name in numeric else first[name]
    table.rows = rows
    return summaries, rows


def _limited(chunks: Any, limit: int | None) -> Any:
    """The first `limit` rows of the chunks (all of them without a limit)."""
    if limit is None:
        yield from chunks
        return
    left = limit
    for data in chunks:
        if left <= 0:
            return
        n = len(next(iter(data.values())))
        if n > left:
            data = {k: v[:left] for k, v in data.items()}
            n = left
        left -= n
        yield data


def create_baseline(
    store: Store,
    ref: str,
    data: tuple[str, ...],
    *,
    categorical: set[str] | frozenset[str] = frozenset(),
    target: str | None = None,
    columns: tuple[str, ...] | None = None,
    features: tuple[str, ...] | None = None,
    sample: int | None = None,
    message: str | None = None,
    progress: ProgressSink | None = None,
    warn: Any = None,
) -> Baseline:
    """Compute the baseline of `ref` on `data`, store it and record it; return it.

    Raises NotFoundError for an unknown reference or file, UsageError for bad options and
    InputError for unreadable or empty data. Nothing is recorded unless it all succeeds.
    """
    from mlops_cli.models.manage import show_version
    from mlops_cli.store.events import utc_now

    scan.require()
    if not data:
        raise UsageError("give the training data with --data PATH")
    if sample is not None and sample < 1:
        raise UsageError("--sample must be at least 1")
    version = show_version(store, ref)
    table = scan.open_table(data, categorical)
    predictor = load_predictor(store, version, warn, features)
    roles, kinds = roles_for(table, predictor, target, columns, categorical)
    summaries, rows = reference_statistics(table, roles, kinds, predictor, limit=sample, progress=progress)
    columns = {name: Column(name, roles[name], kinds[name], summaries[name]) for name in roles}
    data_info = {
        "files": [f.to_dict() for f in table.files],
        "rows": rows,
        "sample": sample,
        "target": target,
        "categorical": sorted(categorical),
        "columns": list(columns) if columns else None,
        "features": list(features) if features and predictor is not None else None,
    }
    baseline = Baseline(version.ref, version.digest, utc_now(), rows, data_info, columns)
    baseline.digest = _store_blob(store, baseline.to_json())
    size = store.objects.path_for(baseline.digest).stat().st_size
    details = {**baseline.summary(), "size": size}
    details.pop("digest")
    job_store.add_artifact(
        store.conn,
        ModelRef.parse(version.ref),
        "baseline",
        ", ".join(f.path.name for f in table.files)[:200],
        baseline.digest,
        details,
        provenance(message),
        action="monitor.baseline",
        blob_size=size,
        blob_exists=store.objects.has,
    )
    return baseline


def _store_blob(store: Store, payload: bytes) -> str:
    store.paths.tmp.mkdir(parents=True, exist_ok=True)
    temp = store.paths.tmp / f"{os.getpid()}-baseline-{secrets.token_hex(6)}.json"
    try:
        temp.write_bytes(payload)
        return store.objects.put_file(temp).digest
    except OSError as exc:
        raise StoreError(f"cannot write the baseline into the store: {exc.strerror or exc}") from exc
    finally:
        temp.unlink(missing_ok=True)


def load_baseline(store: Store, version: ModelVersion) -> Baseline:
    """The version's newest baseline; NotFoundError naming the command that makes one."""
    found = [a for a in version.artifacts if a.kind == "baseline" and a.digest]
    if not found:
        raise NotFoundError(
            f"{version.ref} has no monitoring baseline yet",
            hint=f"run `mlops monitor baseline {version.ref} --data TRAINING_DATA`",
        )
    digest = found[-1].digest
    assert digest is not None
    path = store.objects.path_for(digest)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoreError(
            f"the baseline blob {digest} of {version.ref} cannot be read: {exc.strerror or exc}",
            hint="run `mlops audit verify`",
        ) from exc
    return Baseline.from_json(raw, digest)
