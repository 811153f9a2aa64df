"""What a converted version records: its tags, its metadata (lineage, converter, parity,
quantisation) and the signature the runtime reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import Adapter, version_of
from mlops_cli.convert.parity import ParityReport
from mlops_cli.convert.rows import Rows
from mlops_cli.domain import ModelVersion
from mlops_cli.models.signature import onnx_signature


def tags(
    source: ModelVersion,
    adapter: Adapter,
    opset: int,
    report: ParityReport,
    quantize: str | None,
) -> dict[str, str]:
    tags = {
        "format": "onnx",
        "opset": str(opset),
        "converter": adapter.converter,
        "source_framework": source.framework,
        "derived_from": source.ref,
        "parity": "passed" if report.passed else "failed",
    }
    if quantize is not None:
        tags["quantized"] = quantize
    return tags


def metadata(
    source: ModelVersion,
    adapter: Adapter,
    opset: int,
    report: ParityReport,
    quantization: dict[str, Any] | None,
    registered_as: str | None = None,
) -> dict[str, Any]:
    from mlops_cli.audit.provenance import git_info

    versions = {k: v for k, v in adapter.versions().items() if v}
    versions["onnx"] = version_of("onnx")
    versions["onnxruntime"] = version_of("onnxruntime")
    derived = {"ref": source.ref, "digest": source.digest, "framework": source.framework}
    if registered_as and registered_as != source.framework:
        derived["registered_framework"] = registered_as
    converting = git_info(Path.cwd())
    metadata: dict[str, Any] = {
        "derived_from": derived,
        "conversion": {
            "converter": adapter.converter,
            "opset": opset,
            "versions": versions,
            # Where the conversion ran from (the version's own git is its source's).
            "git": dataclasses.asdict(converting) if converting else None,
        },
        "parity": report.to_dict(),
    }
    if quantization:
        metadata["quantization"] = quantization
    return metadata


def signature(path: Path, adapter: Adapter, rows: Rows) -> dict[str, Any]:
    """onnx_signature's inputs/outputs plus feature_names and class_labels (read by the runtime)."""
    signature = dict(onnx_signature(path) or {})
    names = adapter.feature_names(rows)
    signature["feature_names"] = [str(n) for n in names] if names else None
    signature["class_labels"] = adapter.class_labels()
    signature["accepts_missing"] = adapter.accepts_missing  # read by runtime.validation
    return signature
