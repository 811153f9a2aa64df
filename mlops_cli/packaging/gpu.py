"""`mlops package --gpu`: the CUDA build of onnxruntime on a CUDA base image.

No CUDA image can be pulled while building (images are built offline), so the base must already
be in the engine: it is recognised by the variables NVIDIA's CUDA images set (CUDA_VERSION,
NVIDIA_VISIBLE_DEVICES). The image then prefers the CUDA provider and falls back to the CPU.
"""

from __future__ import annotations

from mlops_cli.errors import ExternalToolError

GPU_RUNTIME = "onnxruntime-gpu"
PROVIDERS = "cuda,cpu"  # the image's MLOPS_PROVIDERS: CUDA where a GPU is, else the CPU
_CUDA_MARKERS = ("CUDA_VERSION=", "NVIDIA_VISIBLE_DEVICES=", "NV_CUDA_LIB_VERSION=")


def gpu_pins(pins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The image's packages with onnxruntime's CUDA build in place of the CPU one (same version)."""
    return [(GPU_RUNTIME if name.lower() == "onnxruntime" else name, version) for name, version in pins]


def check_cuda_base(base_image: str, env: list[str]) -> None:
    """ExternalToolError (exit 4) unless `env` (the base image's Config.Env) is a CUDA image's."""
    if not any(item.startswith(_CUDA_MARKERS) for item in env):
        raise ExternalToolError(
            f"--gpu needs a CUDA base image with Python 3.11 in the local engine; {base_image} is not"
            " one (no CUDA_VERSION in its environment)",
            hint="on a machine with a registry: docker pull nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04,"
            " add python3.11 and python3.11-venv in a Dockerfile FROM it, and pass it as --base-image",
        )
