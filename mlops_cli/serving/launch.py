"""Starting the scoring server: the checks before it binds, and its command line for another
interpreter (an entry script's environment, a deployment's revision).

Store-free, like the rest of serving/: the caller has already resolved versions to bundle folders.
"""

from __future__ import annotations

import importlib.util
import socket

from mlops_cli.errors import MissingDependencyError, MlopsError
from mlops_cli.runtime.providers import CPU
from mlops_cli.serving.config import ServeConfig

SERVING_MODULES = ("onnxruntime", "numpy", "uvicorn")


def check_serving_dependencies(collect: bool = False) -> None:
    for module in (*SERVING_MODULES, *(("pyarrow",) if collect else ())):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, "serve")


def check_port(host: str, port: int) -> None:
    """A clear error now, rather than a uvicorn log line later, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise MlopsError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another --port or --host",
            ) from None


def serving_argv(config: ServeConfig) -> list[str]:
    """`-m mlops_cli.serving ...` for `config`: how a server starts in another interpreter."""
    args = ["-m", "mlops_cli.serving", "--model-dir", config.bundle, "--host", config.host]
    args += ["--port", str(config.port), "--workers", str(config.workers)]
    args += ["--max-body-mb", str(config.max_body_mb), "--log-level", config.log_level]
    args += ["--batch-max-size", str(config.batch_max_size)]
    args += ["--batch-max-latency-ms", str(config.batch_max_latency_ms)]
    if config.api_key_env:
        args += ["--api-key-env", config.api_key_env]
    if config.collect_dir:
        args += ["--collect", config.collect_dir]
    for bundle in config.more_bundles:
        args += ["--more-model-dir", bundle]
    if tuple(config.providers) != (CPU,):  # chosen here: the server must not fall back to the CPU
        args += ["--providers", ",".join(config.providers)]
    return args
