"""Platform names, wheel tags and the emulation check behind `package --platform`."""

from __future__ import annotations

import pytest

from mlops_cli.errors import ExternalToolError, UsageError
from mlops_cli.packaging import platforms
from mlops_cli.packaging.platforms import Platform


@pytest.mark.parametrize(
    ("text", "arch"),
    [("linux/amd64", "amd64"), ("linux/arm64", "arm64"), ("linux/arm64/v8", "arm64"), ("aarch64", "arm64"),
     ("x86_64", "amd64"), (" Linux/ARM64 ", "arm64")],
)  # fmt: skip
def test_platform_names(text, arch):
    assert platforms.parse(text) == Platform("linux", arch)


@pytest.mark.parametrize("text", ["windows/amd64", "linux/riscv64", "linux/", "arm"])
def test_unknown_platforms_are_usage_errors(text):
    with pytest.raises(UsageError, match="unknown --platform"):
        platforms.parse(text)


def test_several_platforms_dedupe_in_order():
    assert [p.name for p in platforms.parse_many(["linux/arm64,linux/amd64", "aarch64"])] == [
        "linux/arm64",
        "linux/amd64",
    ]


def test_wheel_tags_follow_the_machine():
    tags = Platform("linux", "arm64").wheel_tags()
    assert "manylinux2014_aarch64" in tags and "manylinux_2_28_aarch64" in tags
    assert not any("x86_64" in tag for tag in tags)


def test_emulation_is_required_for_a_foreign_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(platforms, "BINFMT", tmp_path)  # a binfmt_misc with nothing registered
    platforms.require_emulation(platforms.host())  # the host's own platform needs none
    foreign = next(
        Platform("linux", a) for a in ("amd64", "arm64") if Platform("linux", a) != platforms.host()
    )
    with pytest.raises(ExternalToolError) as raised:
        platforms.require_emulation(foreign)
    assert "update-binfmts --enable" in raised.value.hint
    (tmp_path / f"qemu-{foreign.machine}").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt\n")
    platforms.require_emulation(foreign)
    (tmp_path / f"qemu-{foreign.machine}").write_text("disabled\n")
    with pytest.raises(ExternalToolError):
        platforms.require_emulation(foreign)


def test_gpu_images_take_onnxruntimes_cuda_build_at_the_same_version():
    from mlops_cli.packaging.gpu import gpu_pins

    pins = [("onnxruntime", "1.32.0"), ("numpy", "2.4.6")]
    assert gpu_pins(pins) == [("onnxruntime-gpu", "1.32.0"), ("numpy", "2.4.6")]


def test_gpu_needs_a_cuda_base_and_says_how_to_get_one():
    from mlops_cli.packaging.gpu import check_cuda_base

    check_cuda_base("cuda-py:3.11", ["PATH=/usr/bin", "CUDA_VERSION=12.8.1", "NVIDIA_VISIBLE_DEVICES=all"])
    with pytest.raises(ExternalToolError) as raised:
        check_cuda_base("python:3.11-slim", ["PATH=/usr/bin", "PYTHON_VERSION=3.11.9"])
    assert "python:3.11-slim is not one" in raised.value.message and "nvidia/cuda" in raised.value.hint


def test_the_gpu_dockerfile_prefers_cuda_then_the_cpu():
    from mlops_cli.packaging import dockerfile

    text = dockerfile.render("m:1", "sha256:x", "cuda-py:3.11", {"a": "b"}, {"MLOPS_PROVIDERS": "cuda,cpu"})
    assert 'PORT=8080 \\\n    MLOPS_PROVIDERS="cuda,cpu"' in text
    assert "MLOPS_PROVIDERS" not in dockerfile.render("m:1", "sha256:x", "base", {"a": "b"})
