"""`mlops serve`: the scoring server on this machine, from a registered version."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlops_cli.domain import ModelVersion
from mlops_cli.environments.together import check_together, shared_environment
from mlops_cli.environments.venvs import Environment, check_env_manager, isolated_env
from mlops_cli.errors import MissingDependencyError, MlopsError, UsageError
from mlops_cli.runtime.providers import CPU
from mlops_cli.serving.config import ServeConfig
from mlops_cli.store import Store
from mlops_cli.targets.bundling import local_bundle

SERVING_MODULES = ("onnxruntime", "numpy", "uvicorn")


@dataclass(frozen=True)
class LocalServer:
    """What will be served: the version, its bundle and the server settings."""

    version: ModelVersion
    bundle: Path
    config: ServeConfig
    environment: Environment | None = None  # an entry script's own environment, if any
    others: tuple[ModelVersion, ...] = ()  # `serve REF REF ...`: the other versions served

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.config.port}"


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


def prepare(
    store: Store,
    ref: str,
    config: ServeConfig,
    env_manager: str = "virtualenv",
    notify: Callable[[str], None] | None = None,
    more_refs: tuple[str, ...] = (),
) -> LocalServer:
    """Check the settings, resolve `ref` (and `more_refs`, served beside it) to bundle folders
    (and an entry script's version to its environment, built or reused, unless `env_manager` is
    local); UsageError for impossible settings."""
    check_env_manager(env_manager)
    if more_refs and config.collect_dir:
        raise UsageError("--collect serves one model; run one server per model to collect")
    if not 0 < config.port < 65536:
        raise UsageError(f"--port {config.port} is not a port number")
    if config.workers < 1:
        raise UsageError("--workers must be at least 1")
    if config.max_body_mb <= 0:
        raise UsageError("--max-body-mb must be positive")
    if config.batch_max_size < 0 or config.batch_max_latency_ms < 0:
        raise UsageError("--batch-max-size and --batch-max-latency-ms cannot be negative")
    if config.api_key_env and not os.environ.get(config.api_key_env):
        raise UsageError(
            f"--api-key-env {config.api_key_env}: that environment variable is empty or unset",
            hint=f"export {config.api_key_env}=<a long random key>",
        )
    check_serving_dependencies(collect=bool(config.collect_dir))
    check_port(config.host, config.port)
    served = [local_bundle(store, r) for r in (ref, *more_refs)]
    versions = [v for v, _ in served]
    check_together(versions, env_manager)
    for version in versions:
        _check_entry_settings(version, config)
    environment = shared_environment(envs_dir(store), versions, env_manager, notify)
    (version, bundle), others = served[0], served[1:]
    config = replace(_with_bundle(config, str(bundle)), more_bundles=[str(b) for _, b in others])
    return LocalServer(version, bundle, config, environment, tuple(v for v, _ in others))


def envs_dir(store: Store) -> Path:
    """Where entry scripts' environments are cached (owner-only)."""
    return store.paths.root / "envs"


def _check_entry_settings(version: ModelVersion, config: ServeConfig) -> None:
    """An Azure-form script answers with whatever run() returns: no tensors to batch or collect."""
    if version.runs_own_model and (config.collect_dir or config.batch_max_size > 1):
        raise UsageError(
            f"{version.ref} is served by its entry script's run(): --collect and"
            " --batch-max-size need a model the server runs itself"
        )


def _with_bundle(config: ServeConfig, root: str) -> ServeConfig:
    collect = os.path.abspath(config.collect_dir) if config.collect_dir else None
    return replace(config, bundle=root, collect_dir=collect)


def run(server: LocalServer) -> None:
    """Serve until SIGTERM or Ctrl-C (then finish in-flight requests and flush collection).

    In an entry script's environment, this process becomes that environment's Python running
    the server (exec: the same pid, so signals and exit codes are the server's own).
    """
    if server.environment is not None:
        python = str(server.environment.python)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(python, [python, *serving_argv(server.config)], isolated_env())
    from mlops_cli.serving.server import serve

    serve(server.config)


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
