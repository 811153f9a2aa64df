"""`mlops convert`: a registered model to ONNX, with a parity check, registered as a new version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefArg, StoreOpt
from mlops_cli.cli.output import Output, human_size, short_digest
from mlops_cli.errors import CheckFailedError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.convert.service import ConvertResult


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError("--features needs at least one column name")
    return items


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError as exc:
        raise UsageError(f"--input-shape {text!r} is not a list of integers such as 3,32,32") from exc


def convert(
    ref: ModelRefArg,
    sample: Annotated[
        Optional[Path],
        typer.Option(
            "--sample", help="CSV (with header), Parquet or NPY rows for the parity check and shapes."
        ),
    ] = None,
    name: Annotated[
        Optional[str], typer.Option("--name", "-n", help="Register under this name; default: REF's name.")
    ] = None,
    opset: Annotated[
        Optional[int],
        typer.Option(
            "--opset", help="ONNX opset; default: the highest the converter and onnxruntime support."
        ),
    ] = None,
    features: Annotated[
        Optional[str],
        typer.Option("--features", help="a,b,c: the column order the model expects, when it does not say."),
    ] = None,
    input_shape: Annotated[
        Optional[str],
        typer.Option(
            "--input-shape", help="Shape of one example without the batch axis, e.g. 3,32,32 (PyTorch)."
        ),
    ] = None,
    rtol: Annotated[
        Optional[float],
        typer.Option("--rtol", help="Relative tolerance [default: 1e-4; 0.1 with --quantize]."),
    ] = None,
    atol: Annotated[
        Optional[float],
        typer.Option("--atol", help="Absolute tolerance [default: 1e-5; 0.05 with --quantize]."),
    ] = None,
    max_mismatch_rate: Annotated[
        float, typer.Option("--max-mismatch-rate", help="Share of rows allowed out of tolerance (tree ties).")
    ] = 0.001,
    quantize: Annotated[
        Optional[str],
        typer.Option(
            "--quantize",
            help="'dynamic': int8 weights; 'static': int8 weights and activations (QDQ), calibrated"
            " on --calibration rows. Both via onnxruntime.quantization.",
        ),
    ] = None,
    calibration: Annotated[
        Optional[Path],
        typer.Option("--calibration", help="Rows of the model's inputs (CSV/Parquet) for --quantize static."),
    ] = None,
    calibration_method: Annotated[
        str,
        typer.Option(
            "--calibration-method", help="How activation ranges are set: minmax, entropy, percentile."
        ),
    ] = "minmax",
    force: Annotated[
        bool, typer.Option("--force", help="Register even if parity fails (tagged parity=failed).")
    ] = False,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Convert a registered model to ONNX, prove parity, register it as a new version.

    Supports scikit-learn (pickle, joblib, skops; Pipelines, ColumnTransformers), LightGBM and
    XGBoost (scikit-learn API), Keras/TensorFlow (.keras, .h5, SavedModel) and PyTorch
    (TorchScript, torch.export, pickled modules). Parity rows come from --sample, else the
    datasets registered with the model, else are synthesised (with a warning).

    WARNING: loading a pickle, joblib or pickled PyTorch file runs code named in it. mlops only
    loads files from the store (digests verified); register only models you trust.

    Exit codes: 5 parity failed (nothing registered unless --force), 2 bad options or sample.

    Example: mlops convert churn:3 --sample holdout.csv --name churn-onnx

    Example: mlops convert net:2 --quantize static --calibration rows.csv
    """
    from mlops_cli.convert.service import ConvertRequest, convert_model

    out = Output(json)
    request = ConvertRequest(
        ref=ref,
        name=name,
        opset=opset,
        sample=sample,
        features=_csv(features),
        input_shape=_shape(input_shape),
        rtol=rtol,
        atol=atol,
        max_mismatch_rate=max_mismatch_rate,
        quantize=quantize,
        calibration=calibration,
        calibration_method=calibration_method,
        force=force,
        message=message,
    )
    with store_for(store) as opened:
        try:
            result = convert_model(opened, request, warn=out.warn, note=out.note)
        except CheckFailedError as exc:
            failed = exc.report
            if failed is not None:
                out.result(failed, lambda console: _render(failed, console))
            raise
    out.result(result, lambda console: _render(result, console))


def _render(result: ConvertResult, console: Console) -> None:
    from mlops_cli.cli.parity_view import render_parity

    if result.version is not None:
        v = result.version
        console.print(
            f"Registered {v.ref} ({short_digest(v.digest)}, {human_size(v.size)}) from {result.source.ref}"
            f" via {result.converter}, opset {result.opset}",
            markup=False,
        )
    else:
        console.print(
            f"Converted {result.source.ref} via {result.converter}, opset {result.opset}: not registered"
        )
    render_parity(result.parity.to_dict(), console)
    if result.quantization:
        from mlops_cli.cli.parity_view import quantization_line

        console.print("\n" + quantization_line(result.quantization), markup=False)
