"""Converting a registered version to ONNX, proving parity and registering the result.

The source files are copied out of the store (each blob's digest verified) into a private
temporary folder and loaded from there: nothing outside the store is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_cli.convert import quantize, record
from mlops_cli.convert.base import Adapter, Options, require
from mlops_cli.convert.opsets import choose_opset
from mlops_cli.convert.parity import (
    DEFAULT_ATOL,
    DEFAULT_MAX_MISMATCH_RATE,
    DEFAULT_RTOL,
    QUANTISED_ATOL,
    QUANTISED_RTOL,
    ParityReport,
    compare,
)
from mlops_cli.convert.rows import Rows, choose_rows, fit_rows, read_rows
from mlops_cli.domain import ModelVersion, validate_name
from mlops_cli.errors import CheckFailedError, ExternalToolError, MlopsError, UsageError
from mlops_cli.models.manage import verified_version
from mlops_cli.models.registering import register_model
from mlops_cli.relpaths import safe_join
from mlops_cli.store import Store

QUANTIZE_MODES = quantize.MODES


@dataclass(frozen=True)
class ConvertRequest:
    """What `mlops convert` was asked to do; None means the documented default."""

    ref: str
    name: str | None = None
    opset: int | None = None
    sample: Path | None = None
    features: list[str] | None = None
    input_shape: tuple[int, ...] | None = None
    rtol: float | None = None
    atol: float | None = None
    max_mismatch_rate: float = DEFAULT_MAX_MISMATCH_RATE
    quantize: str | None = None
    calibration: Path | None = None  # rows for --quantize static
    calibration_method: str = "minmax"
    force: bool = False
    message: str | None = None


@dataclass(frozen=True)
class ConvertResult:
    """The outcome; `version` is None when nothing was registered (a failed parity check)."""

    source: ModelVersion
    version: ModelVersion | None
    opset: int
    converter: str
    parity: ParityReport
    quantization: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "registered": self.version is not None,
            "ref": self.version.ref if self.version else None,
            "digest": self.version.digest if self.version else None,
            "derived_from": {"ref": self.source.ref, "digest": self.source.digest},
            "framework": self.source.framework,
            "converter": self.converter,
            "opset": self.opset,
            "parity": self.parity.to_dict(),
            "quantization": self.quantization,
        }


def convert_model(
    store: Store,
    request: ConvertRequest,
    *,
    warn: Callable[[str], None] = lambda text: None,
    note: Callable[[str], None] = lambda text: None,
) -> ConvertResult:
    """Convert `request.ref` to ONNX, check parity and register the result as framework "onnx".

    Raises CheckFailedError (exit 5, `report` = the ConvertResult) when parity fails and
    --force was not given; UsageError for bad options or rows; MlopsError for a file that is no
    convertible model; MissingDependencyError for an absent extra; ExternalToolError when a
    converter or onnxruntime fails.
    """
    _validate(request)
    source = verified_version(store, request.ref)
    if source.framework == "onnx":
        raise UsageError(f"{source.ref} is already an ONNX model")
    name = validate_name(request.name) if request.name else source.name
    require("onnx", "onnx")
    require("onnxruntime", "onnx")
    with tempfile.TemporaryDirectory(prefix="mlops-convert-") as tmp:
        work = Path(tmp)
        root = _materialise(store, source, work / "source")
        registered_as = source.framework
        scanned = scanned_framework(source, root)
        if scanned is not None:
            # The pickle names its modules; trust them over a --framework given at register
            # time, and record both (the converted version's tags and metadata say the truth).
            warn(
                f"{source.ref} was registered as {registered_as} but its pickle imports {scanned}: "
                f"converting it as {scanned}"
            )
            source = dataclasses.replace(source, framework=scanned)
        note(f"loading {source.ref} ({source.framework}) from the store, digests verified")
        adapter = load_adapter(source, root, request)
        datasets = _materialise_datasets(store, source, work / "datasets")
        rows = choose_rows(
            adapter.spec(), sample=request.sample, datasets=datasets, features=request.features, warn=warn
        )
        calibration = _calibration_rows(adapter, request)
        opset = choose_opset(request.opset, adapter.max_opset)
        out_dir = work / "onnx"
        out_dir.mkdir()
        model_path = out_dir / "model.onnx"
        note(f"converting with {adapter.converter} at opset {opset}")
        adapter.convert(rows, Options(opset, request.features, request.input_shape), model_path)
        note(f"checking parity on {len(rows)} rows from {rows.source}")
        native = _native(adapter, rows)
        report = _parity(adapter, model_path, rows, native, request, quantised=False)
        quantization = None
        if request.quantize is not None and report.passed:
            note(f"quantising ({request.quantize}) and checking parity again")
            report, quantization = _quantise_and_check(
                adapter, model_path, rows, native, request, report, opset, calibration
            )
        elif request.quantize is not None:
            warn("not quantised: the float model already fails the parity check")
        signature = record.signature(model_path, adapter, rows)
        # Converters may cap the requested opset (onnxmltools at 15): record what was written.
        opset = int((signature.get("opsets") or {}).get("ai.onnx", opset))
        result = ConvertResult(source, None, opset, adapter.converter, report, quantization)
        if not report.passed and not request.force:
            raise CheckFailedError(_failure_message(report), hint=_failure_hint(), report=result)
        if not report.passed:
            warn(
                _failure_message(report).replace("; nothing registered", "")
                + "; registering it anyway (--force)"
            )
        version = register_model(
            store,
            model_path,
            name=name,
            framework="onnx",
            tags=record.tags(source, adapter, opset, report, request.quantize if quantization else None),
            metadata=record.metadata(source, adapter, opset, report, quantization, registered_as),
            signature=signature,
            source_path=f"mlops:{source.ref}",
            action="convert",
            # The ONNX file is the source's model in another format: it comes from the same
            # commit (image labels read this); the converting commit is in metadata.conversion.
            git=source.git,
            message=request.message or f"converted from {source.ref} with {adapter.converter}",
        )
    return ConvertResult(source, version, opset, adapter.converter, report, quantization)


def _quantise_and_check(
    adapter: Adapter,
    model_path: Path,
    rows: Rows,
    native: dict[str, Any],
    request: ConvertRequest,
    float_report: ParityReport,
    opset: int,
    calibration: Rows | None,
) -> tuple[ParityReport, dict[str, Any]]:
    """Replace `model_path` by its int8 form; return its parity report, size and speed change."""
    quantised_path = model_path.with_name("model.int8.onnx")
    names = [i.name for i in _session(model_path).get_inputs()]
    batch = quantize.fixed_batch(model_path)
    if request.quantize == "static":
        assert calibration is not None  # _validate: static needs --calibration
        feeds = adapter.feed(calibration, names)
        quantize.quantize_static(
            model_path, quantised_path, opset, feeds, batch or 64, request.calibration_method
        )
    else:
        quantize.quantize_dynamic(model_path, quantised_path, opset)
    report = _parity(adapter, quantised_path, rows, native, request, quantised=True)
    before, after = model_path.stat().st_size, quantised_path.stat().st_size
    speed_feeds = {name: value[: batch or None] for name, value in adapter.feed(rows, names).items()}
    speed_before = quantize.rows_per_second(model_path, speed_feeds)
    speed_after = quantize.rows_per_second(quantised_path, speed_feeds)
    quantised_path.replace(model_path)
    details: dict[str, Any] = {
        "mode": request.quantize,
        "size_before": before,
        "size_after": after,
        "size_reduction": round(1 - after / before, 4),
        "rows_per_second_before": round(speed_before, 1),
        "rows_per_second_after": round(speed_after, 1),
        "speedup": round(speed_after / speed_before, 3) if speed_before else None,
        "float_parity": float_report.to_dict(),
    }
    if calibration is not None:
        details["calibration"] = {
            "source": calibration.source,
            "rows": len(calibration),
            "method": request.calibration_method,
        }
    return report, details


def _calibration_rows(adapter: Adapter, request: ConvertRequest) -> Rows | None:
    """The --calibration rows fitted to the model's inputs (checked before converting)."""
    if request.calibration is None:
        return None
    path = request.calibration
    if not path.is_file():
        raise UsageError(f"--calibration {path}: no such file")
    return fit_rows(read_rows(path, f"calibration {path}"), adapter.spec(), request.features)


def _validate(request: ConvertRequest) -> None:
    if request.quantize is not None and request.quantize not in QUANTIZE_MODES:
        raise UsageError(
            f"unknown --quantize mode {request.quantize!r}", hint="use --quantize dynamic or static"
        )
    if request.quantize == "static" and request.calibration is None:
        raise UsageError(
            "--quantize static needs --calibration FILE", hint="rows of the model's inputs (CSV or Parquet)"
        )
    if request.calibration is not None and request.quantize != "static":
        raise UsageError("--calibration is for --quantize static")
    if request.calibration_method not in quantize.CALIBRATION_METHODS:
        raise UsageError(
            f"unknown --calibration-method {request.calibration_method!r}",
            hint=f"use one of {', '.join(quantize.CALIBRATION_METHODS)}",
        )
    for value, option in ((request.rtol, "--rtol"), (request.atol, "--atol")):
        if value is not None and value < 0:
            raise UsageError(f"{option} must be >= 0")
    if not 0 <= request.max_mismatch_rate <= 1:
        raise UsageError("--max-mismatch-rate must be between 0 and 1")
    if request.input_shape is not None and any(d < 1 for d in request.input_shape):
        raise UsageError("--input-shape dimensions must be positive")


def load_adapter(source: ModelVersion, root: Path, request: ConvertRequest) -> Adapter:
    """The framework module's adapter for the version's files under `root`."""
    framework = source.framework
    if framework in ("keras", "tensorflow"):
        from mlops_cli.convert import tensorflow

        return tensorflow.load(_main_path(source, root, framework), request.input_shape)
    if framework == "pytorch":
        from mlops_cli.convert import torch

        return torch.load(_main_path(source, root, framework), request.input_shape)
    if framework in ("sklearn", "lightgbm", "xgboost"):
        from mlops_cli.convert.loading import is_pickle, load_object

        path = _main_path(source, root, framework)
        if framework != "sklearn" and not is_pickle(path):
            from mlops_cli.convert.boosting import load_native

            return load_native(path, framework)
        return adapter_for_object(load_object(path, f"{source.ref} ({path.name})"), source.ref, request)
    raise UsageError(
        f"{source.ref} has framework {framework!r}, which mlops cannot convert",
        hint="supported: sklearn, lightgbm, xgboost, keras, tensorflow, pytorch; "
        "register the model again with --framework if it was detected wrongly",
    )


_PICKLED_FRAMEWORKS = ("sklearn", "lightgbm", "xgboost", "pytorch")


def scanned_framework(source: ModelVersion, root: Path) -> str | None:
    """The framework the source's pickle really imports, when it differs from the recorded one.

    Uses the register-time opcode scan (nothing is unpickled); None when the recorded
    framework agrees, the file is no pickle, or the scan finds nothing.
    """
    from mlops_cli.convert.loading import is_pickle
    from mlops_cli.models.frameworks import detect_file

    if source.framework not in _PICKLED_FRAMEWORKS or len(source.files) != 1:
        return None
    path = root / source.files[0].path
    if not path.is_file() or not is_pickle(path):
        return None
    found = detect_file(path)
    return found if found not in ("unknown", source.framework) else None


def adapter_for_object(obj: Any, label: str, request: ConvertRequest) -> Adapter:
    """The adapter for an unpickled object, by what it is rather than what the file claimed."""
    from mlops_cli.convert.boosting import BoostingAdapter, is_booster
    from mlops_cli.convert.sklearn import SklearnAdapter, is_estimator

    if is_booster(obj):
        return BoostingAdapter(obj)
    if is_estimator(obj):
        return SklearnAdapter(obj)
    if type(obj).__module__.split(".")[0] == "torch":
        from mlops_cli.convert import torch

        return torch.adapter_for_module(obj, request.input_shape)
    raise MlopsError(
        f"{label} holds a {type(obj).__module__}.{type(obj).__qualname__}, not a model mlops can convert",
        hint="register a fitted scikit-learn, LightGBM, XGBoost, Keras or PyTorch model",
    )


def _main_path(source: ModelVersion, root: Path, framework: str) -> Path:
    if framework == "tensorflow":
        saved = [f for f in source.files if PurePosixPath(f.path).name == "saved_model.pb"]
        if saved:
            return root / PurePosixPath(saved[0].path).parent
    if len(source.files) == 1:
        return root / source.files[0].path
    from mlops_cli.models.frameworks import detect_file

    matching = [f for f in source.files if detect_file(root / f.path) == framework]
    if len(matching) != 1:
        raise UsageError(
            f"{source.ref} has {len(source.files)} files and {len(matching)} look like a {framework} model",
            hint="register the one model file on its own",
        )
    return root / matching[0].path


def _materialise(store: Store, version: ModelVersion, root: Path) -> Path:
    """Copy the version's files out of the store, verifying every digest."""
    for entry in version.files:
        dest = safe_join(root, entry.path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        store.objects.materialise(entry.digest, entry.size, dest, entry.mode)
    return root


def _materialise_datasets(store: Store, version: ModelVersion, root: Path) -> list[tuple[str, Path]]:
    found = []
    for i, dataset in enumerate(version.datasets):
        name = PurePosixPath(dataset.path.replace(os.sep, "/")).name or f"dataset-{i}"
        dest = root / str(i) / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        store.objects.materialise(dataset.digest, dataset.size, dest, 0o444)
        found.append((f"dataset {dataset.path}", dest))
    return found


def _native(adapter: Adapter, rows: Rows) -> dict[str, Any]:
    try:
        return adapter.native(rows)
    except MlopsError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        raise UsageError(
            f"the original model cannot score the rows from {rows.source}: {exc}",
            hint="check that --sample / --features match what the model was trained on",
        ) from exc


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ExternalToolError(f"onnxruntime cannot load the converted model: {exc}") from exc


def run_onnx(adapter: Adapter, path: Path, rows: Rows) -> dict[str, Any]:
    """The converted model's outputs on `rows`, under the adapter's logical names."""
    session = _session(path)
    feed = adapter.feed(rows, [i.name for i in session.get_inputs()])
    try:
        raw = session.run(None, feed)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        raise ExternalToolError(f"onnxruntime failed to run the converted model: {exc}") from exc
    names = adapter.output_names([o.name for o in session.get_outputs()])
    if len(names) != len(raw):
        raise ExternalToolError(f"the converted model has {len(raw)} outputs, expected {len(names)}")
    return dict(zip(names, raw, strict=True))


def _parity(
    adapter: Adapter,
    path: Path,
    rows: Rows,
    native: dict[str, Any],
    request: ConvertRequest,
    *,
    quantised: bool,
) -> ParityReport:
    converted = run_onnx(adapter, path, rows)
    if set(native) <= set(converted):
        # The graph may give more than the original's API does (a LinearSVC's scores): compare
        # what both give.
        converted = {name: converted[name] for name in native}
    default_rtol, default_atol = (
        (QUANTISED_RTOL, QUANTISED_ATOL) if quantised else (DEFAULT_RTOL, DEFAULT_ATOL)
    )
    return compare(
        native,
        converted,
        labels=adapter.label_outputs,
        rtol=request.rtol if request.rtol is not None else default_rtol,
        atol=request.atol if request.atol is not None else default_atol,
        max_mismatch_rate=request.max_mismatch_rate,
        source=rows.source,
    )


def _failure_message(report: ParityReport) -> str:
    return (
        f"parity check failed: {report.mismatched_rows} of {report.rows} rows ({report.mismatch_rate:.2%}) "
        f"differ beyond rtol {report.rtol:g} / atol {report.atol:g} "
        f"(allowed {report.max_mismatch_rate:.2%}); nothing registered"
    )


def _failure_hint() -> str:
    return (
        "see the worst rows in the report; loosen --rtol/--atol/--max-mismatch-rate, "
        "or --force to register anyway"
    )
