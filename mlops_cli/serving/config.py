"""What a server process needs to start, passed to uvicorn's worker processes as JSON in an
environment variable (workers are fresh processes, so nothing else survives the fork)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

CONFIG_ENV = "MLOPS_SERVING_CONFIG"
# Where the worker processes of one deployment revision share /metrics (metrics_share.py): a
# variable, not a flag, so an image built by an older mlops still starts (and ignores it).
METRICS_DIR_ENV = "MLOPS_METRICS_DIR"


@dataclass(frozen=True)
class ServeConfig:
    bundle: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    api_key_env: str | None = None
    max_body_mb: float = 10.0
    collect_dir: str | None = None
    batch_max_size: int = 0  # 0: micro-batching off
    batch_max_latency_ms: float = 2.0
    intra_op_threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)  # resolved by runtime.providers
    collect_queue_size: int = 10_000
    collect_rows_per_file: int = 100_000
    collect_rotate_seconds: float = 300.0
    graceful_timeout: float = 30.0
    log_level: str = "info"
    # `mlops serve REF REF ...`: the other versions' bundles, each its own model (serving/multi.py).
    more_bundles: list[str] = field(default_factory=list)
    # Several workers: the owner-only folder where each shares its /metrics figures
    # (serving/metrics_share.py); made and removed by the parent process.
    metrics_dir: str | None = None

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            raise RuntimeError(f"{CONFIG_ENV} is not set: start the server with `mlops serve`")
        return cls(**json.loads(raw))


def exposure_warning(host: str, api_key_env: str | None) -> str | None:
    """What to tell someone who serves beyond this machine without a key, else None: anyone
    who can reach the address can call the model and read its metrics."""
    if api_key_env or host.startswith("127.") or host in ("localhost", "::1", "[::1]"):
        return None
    return (
        f"listening on {host} without --api-key-env: anyone who can reach this machine can call"
        " the model (set --api-key-env VAR to require 'Authorization: Bearer <key>')"
    )
