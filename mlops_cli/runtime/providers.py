"""Execution providers: which of onnxruntime's backends (CUDA, TensorRT, OpenVINO, CPU, ...) runs a model.

`--providers cuda,cpu` lists them in order of preference. The first one this onnxruntime build
can use is chosen, and the rest of the list that is usable stays behind it as onnxruntime's
own fallback for operators the first cannot run. A name onnxruntime does not know is a usage
error; a list where nothing is usable is an error that says what is, unless it ends in CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_cli.errors import MlopsError, UsageError

CPU = "CPUExecutionProvider"
# Short names people type, for the providers whose full name is not just NAME + ExecutionProvider.
_SHORT = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "onednn": "DnnlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
    "cann": "CANNExecutionProvider",
    "azure": "AzureExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
}


@dataclass(frozen=True)
class ProviderChoice:
    """What was asked, what runs (in onnxruntime's order) and what was passed over."""

    requested: tuple[str, ...]
    providers: tuple[str, ...]
    unavailable: tuple[str, ...] = ()

    @property
    def chosen(self) -> str:
        return self.providers[0]

    def note(self) -> str:
        """One line for people: the choice, and why when it was not the first asked for."""
        skipped = f" ({', '.join(self.unavailable)} not available here)" if self.unavailable else ""
        return f"execution provider: {self.chosen}{skipped}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": list(self.requested),
            "providers": list(self.providers),
            "chosen": self.chosen,
            "unavailable": list(self.unavailable),
        }


def parse_providers(text: str | None) -> tuple[str, ...]:
    """`cuda,cpu` -> full provider names, in order; the default is the CPU alone.

    UsageError for a name onnxruntime does not know (checked against every provider it has a
    name for, available or not, so a typo is told apart from a missing GPU).
    """
    if text is None or not text.strip():
        return (CPU,)
    from mlops_cli.runtime.session import import_onnxruntime

    known = {name.lower(): name for name in import_onnxruntime().get_all_providers()}
    names: list[str] = []
    for raw in text.split(","):
        word = raw.strip()
        if not word:
            continue
        full = (
            _SHORT.get(word.lower())
            or known.get(word.lower())
            or known.get(f"{word.lower()}executionprovider")
        )
        if full is None:
            raise UsageError(
                f"unknown execution provider {word!r}",
                hint="use onnxruntime's names, e.g. cuda, tensorrt, openvino, dnnl, xnnpack or cpu",
            )
        if full not in names:
            names.append(full)
    return tuple(names) or (CPU,)


def choose_providers(requested: tuple[str, ...]) -> ProviderChoice:
    """The usable providers of `requested`, in its order.

    MlopsError when none of them is usable in this onnxruntime build (the message names what
    is, and how to fall back to the CPU).
    """
    if requested == (CPU,):  # in every onnxruntime build: no need to import it (0.5 s) to know
        return ProviderChoice(requested, requested, ())
    from mlops_cli.runtime.session import import_onnxruntime

    available = set(import_onnxruntime().get_available_providers())
    usable = tuple(name for name in requested if name in available)
    unavailable = tuple(name for name in requested if name not in available)
    if not usable:
        listed = ",".join(_short(name) for name in requested)
        raise MlopsError(
            f"execution provider {', '.join(unavailable)} is not available in this onnxruntime build"
            f" (available: {', '.join(sorted(available))})",
            hint=f"list a fallback: --providers {listed},cpu; or install the onnxruntime build for it"
            " (e.g. onnxruntime-gpu for cuda)",
        )
    return ProviderChoice(requested, usable, unavailable)


def resolve(text: str | None) -> ProviderChoice:
    """`--providers TEXT` parsed and chosen: what a command passes to its sessions and records."""
    return choose_providers(parse_providers(text))


def _short(name: str) -> str:
    for short, full in _SHORT.items():
        if full == name:
            return short
    return name
