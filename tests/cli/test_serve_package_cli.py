"""`mlops serve` and `mlops package` refusals, exit codes and help, without a server or engine."""

from __future__ import annotations

import pytest

from tests.onnx_helpers import logistic_onnx, register_onnx


@pytest.fixture
def onnx_model(store, project):
    register_onnx(store, logistic_onnx(project), "clf")
    return "clf:1"


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_help_has_examples(cli):
    for command in ("serve", "package"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Example: mlops" in result.stdout


def test_serve_unknown_model_exits_1(cli):
    result = cli("serve", "nope")
    assert result.exit_code == 1 and "nope" in _one_error_line(result)


def test_serve_refuses_non_onnx_models(cli, model_file):
    assert cli("register", model_file, "--name", "blob", "--framework", "sklearn").exit_code == 0
    result = cli("serve", "blob")
    assert result.exit_code == 2 and "ONNX" in _one_error_line(result)


def test_package_refuses_non_onnx_models_before_asking_docker(cli, model_file):
    """Whatever the base image (this one cannot exist), the model's format is the error."""
    assert cli("register", model_file, "--name", "blob", "--framework", "sklearn").exit_code == 0
    result = cli("package", "blob", "--base-image", "mlops-no-such-image:0")
    assert result.exit_code == 2 and "not ONNX" in _one_error_line(result)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--api-key-env", "MLOPS_TEST_UNSET_KEY"], "MLOPS_TEST_UNSET_KEY"),
        (["--port", "70000"], "port"),
        (["--workers", "0"], "workers"),
        (["--workers", "1000"], "--workers 1000: more processes than this machine can use"),
        (["--max-body-mb", "0"], "max-body-mb"),
    ],
)
def test_serve_refuses_impossible_settings(cli, onnx_model, monkeypatch, args, words):
    monkeypatch.delenv("MLOPS_TEST_UNSET_KEY", raising=False)
    result = cli("serve", onnx_model, *args)
    assert result.exit_code == 2 and words in _one_error_line(result)


def test_serve_port_in_use_is_one_error_line(cli, onnx_model):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("serve", onnx_model, "--port", taken.getsockname()[1])
    assert result.exit_code == 1 and "cannot listen" in _one_error_line(result)


def test_package_no_build_needs_output_dir(cli, onnx_model):
    result = cli("package", onnx_model, "--no-build")
    assert result.exit_code == 2 and "--output-dir" in _one_error_line(result)


def test_package_refuses_a_non_empty_output_dir(cli, onnx_model, project):
    folder = project / "ctx"
    folder.mkdir()
    (folder / "x").write_text("x")
    result = cli("package", onnx_model, "--no-build", "--output-dir", folder)
    assert result.exit_code == 2 and "not empty" in _one_error_line(result)


def test_package_missing_wheelhouse_is_usage_error(cli, onnx_model, project):
    result = cli(
        "package", onnx_model, "--no-build", "--output-dir", project / "ctx", "--wheelhouse", project / "nope"
    )
    assert result.exit_code == 2 and "wheelhouse" in _one_error_line(result)


@pytest.mark.parametrize(
    ("image", "words"),
    [
        ("", "--image is empty"),
        ("Churn:1", "lower case"),
        ("churn:", "not a valid Docker image reference"),
        ("a b", "not a valid Docker image reference"),
    ],
)
def test_package_checks_the_image_name_before_any_work(cli, onnx_model, project, image, words):
    """Exit 2 before the context is written or Docker is asked (the base cannot exist)."""
    folder = project / "ctx"
    result = cli(
        "package",
        onnx_model,
        "--image",
        image,
        "--base-image",
        "mlops-no-such-image:0",
        "--output-dir",
        folder,
    )
    assert result.exit_code == 2 and words in _one_error_line(result)
    assert not folder.exists()


def test_package_checks_the_base_image_name_too(cli, onnx_model):
    result = cli("package", onnx_model, "--base-image", "Python:3.11")
    assert result.exit_code == 2 and "--base-image" in _one_error_line(result)


def test_valid_image_references_pass():
    from mlops_cli.packaging.imageref import validate_image_ref

    for ref in (
        "churn:3",
        "registry.example.com/team/churn:3",
        "localhost:5000/churn",
        "mlops-test-base:bookworm",
        "example.com/churn@sha256:" + "a" * 64,
    ):
        assert validate_image_ref(ref) == ref


def test_an_unreachable_docker_engine_is_one_short_line(cli, onnx_model, monkeypatch, tmp_path):
    """A real docker SDK client against a socket path where nothing listens."""
    pytest.importorskip("docker")
    socket_path = tmp_path / "no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    result = cli("package", onnx_model, "--base-image", "mlops-test-base:bookworm")
    assert result.exit_code == 4
    line = _one_error_line(result)
    assert f"cannot reach the Docker engine at unix://{socket_path}: no socket there" in line
    assert "urllib3" not in line and "Connection aborted" not in line and "HTTPConnection" not in line
    monkeypatch.setenv("MLOPS_DEBUG", "1")
    detailed = cli("package", onnx_model, "--base-image", "mlops-test-base:bookworm")
    assert detailed.exit_code == 4 and "Connection aborted" in detailed.stderr


@pytest.mark.parametrize(
    ("providers", "code", "says"),
    [("cudda", 2, "unknown execution provider 'cudda'"), ("tensorrt", 1, "is not available")],
)
def test_serve_refuses_providers_it_cannot_use_before_starting(cli, providers, code, says):
    import onnxruntime as ort

    if providers == "tensorrt" and "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has TensorRT: nothing to refuse")
    result = cli("serve", "anything:1", "--providers", providers)
    assert result.exit_code == code
    assert says in result.stderr and result.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--push", "churn:1"), "names no registry"),
        (("--push", "Reg.example.com/Churn:1"), "not a valid Docker image reference"),
        (
            ("--push", "127.0.0.1:5000/churn:1", "--no-build", "--output-dir", "ctx"),
            "cannot go with --no-build",
        ),
        (
            ("--push", "127.0.0.1:5000/churn:1", "--format", "bundle", "-o", "m.tar.gz"),
            "--push is for images",
        ),
    ],
)
def test_package_checks_push_before_any_work(cli, onnx_model, project, args, words):
    """A --push that can never work is exit 2 before a context is written or Docker is asked."""
    result = cli("package", onnx_model, "--base-image", "mlops-no-such-image:0", *args)
    assert result.exit_code == 2 and words in _one_error_line(result)
    assert not (project / "ctx").exists() and not (project / "m.tar.gz").exists()
