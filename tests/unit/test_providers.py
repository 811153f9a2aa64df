"""Execution provider selection against the real onnxruntime installed here (no fake providers):
the expected choice is computed from what this build reports, so on a GPU machine the same
tests pick CUDA where they pick the CPU here."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.runtime.providers import CPU, choose_providers, parse_providers, resolve
from mlops_cli.runtime.session import SessionConfig, create_session
from tests.onnx_helpers import logistic_onnx

AVAILABLE = set(ort.get_available_providers())
CUDA = "CUDAExecutionProvider"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (CPU,)),
        ("", (CPU,)),
        ("cpu", (CPU,)),
        ("cuda,cpu", (CUDA, CPU)),
        ("CUDAExecutionProvider, CPUExecutionProvider", (CUDA, CPU)),
        ("TensorRT,cuda,cpu,cpu", ("TensorrtExecutionProvider", CUDA, CPU)),
        ("openvino", ("OpenVINOExecutionProvider",)),
    ],
)
def test_names_are_parsed_in_order(text, expected):
    assert parse_providers(text) == expected


def test_an_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown execution provider 'cudda'"):
        parse_providers("cudda,cpu")


def test_the_first_available_provider_is_chosen_and_the_rest_fall_back():
    choice = resolve("cuda,cpu")
    if CUDA in AVAILABLE:
        assert choice.chosen == CUDA and choice.providers == (CUDA, CPU) and choice.unavailable == ()
    else:
        assert choice.chosen == CPU and choice.unavailable == (CUDA,)
        assert "CUDAExecutionProvider not available here" in choice.note()
    assert choice.to_dict()["requested"] == [CUDA, CPU]


def test_nothing_available_without_a_cpu_fallback_is_an_error():
    missing = next(p for p in ort.get_all_providers() if p not in AVAILABLE)
    with pytest.raises(MlopsError) as raised:
        choose_providers((missing,))
    assert not isinstance(raised.value, UsageError)  # the name is right; this machine lacks it
    assert "not available in this onnxruntime build" in raised.value.message
    assert ",cpu" in raised.value.hint


def test_a_session_runs_on_the_chosen_provider(tmp_path):
    choice = resolve("cuda,cpu")
    session = create_session(logistic_onnx(tmp_path), SessionConfig(providers=choice.providers))
    assert session.get_providers()[0] == choice.chosen
