"""onnxruntime sessions with explicit options, created once per process per model digest.

Thread counts matter: with several worker processes on a few cores, each session must be told
how many threads it may use, or every process starts one per core and they fight.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MissingDependencyError, MlopsError, UsageError
from mlops_cli.hashing import sha256_file

if TYPE_CHECKING:
    import onnxruntime

OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class SessionConfig:
    """How a session runs. 0 threads means onnxruntime's default (one per physical core)."""

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    optimization: str = "all"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    def __post_init__(self) -> None:
        if self.optimization not in OPTIMIZATION_LEVELS:
            raise UsageError(
                f"unknown graph optimisation level {self.optimization!r}",
                hint=f"choose one of {', '.join(OPTIMIZATION_LEVELS)}",
            )
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise UsageError("thread counts must be 0 (default) or more")


def import_onnxruntime() -> Any:
    """The onnxruntime module, or MissingDependencyError naming the extra to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "onnx") from exc
    return onnxruntime


def session_options(config: SessionConfig) -> onnxruntime.SessionOptions:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.optimization]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Default spinning burns a core between runs; with one session per process it only steals
    # time from the reader and the other workers.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def create_session(
    path: Path, config: SessionConfig | None = None, profile_prefix: str | None = None
) -> onnxruntime.InferenceSession:
    """A new InferenceSession for the ONNX file at `path` (onnxruntime's profiler on, writing
    under `profile_prefix`, when given).

    Raises MlopsError when the file is missing or is not a model onnxruntime can load.
    """
    ort = import_onnxruntime()
    config = config or SessionConfig()
    path = Path(path)
    if not path.is_file():
        raise MlopsError(f"no ONNX model file at {path}")
    options = session_options(config)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(config.providers))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises bare RuntimeError/Fail subclasses
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MlopsError(
            f"onnxruntime cannot load {path.name}: {first_line}",
            hint="is it an ONNX model? other formats need `mlops convert` first",
        ) from exc


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file, the key sessions are cached under when no digest is given."""
    return sha256_file(path)[0]


_cache: dict[tuple[str, SessionConfig], onnxruntime.InferenceSession] = {}
_lock = threading.Lock()


def get_session(
    path: Path, config: SessionConfig | None = None, digest: str | None = None
) -> onnxruntime.InferenceSession:
    """The process's session for this model content and config, created on first use.

    `digest` names the content (a registered version's file digest); without it the file is
    hashed, so two paths to the same bytes share one session.
    """
    config = config or SessionConfig()
    key = (digest or file_digest(Path(path)), config)
    with _lock:
        session = _cache.get(key)
        if session is None:
            session = create_session(Path(path), config)
            _cache[key] = session
        return session


def clear_session_cache() -> None:
    with _lock:
        _cache.clear()
