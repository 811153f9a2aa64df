"""What `mlops serve` runs: each version resolved from the store to a bundle folder, the
environment they share, then the server started here or exec'd in that environment's Python."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlops_cli import limits
from mlops_cli.domain import ModelVersion
from mlops_cli.environments.together import check_together, shared_environment
from mlops_cli.environments.venvs import Environment, check_env_manager, envs_dir, isolated_env
from mlops_cli.errors import UsageError
from mlops_cli.packaging.bundling import local_bundle
from mlops_cli.serving.config import ServeConfig
from mlops_cli.serving.launch import check_port, check_serving_dependencies, serving_argv
from mlops_cli.store import Store


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
    limits.check_processes("--workers", config.workers)
    limits.check_threads("--threads", config.intra_op_threads)
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
