"""What a deploy, switch or rollback is asked for, and what it reports back (--json's shape)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeployRequest:
    """What `mlops deploy REF --name NAME ...` asks for."""

    ref: str
    name: str
    more_refs: tuple[str, ...] = ()  # `deploy REF REF ...`: served beside `ref` in one server
    target: str = "local"
    port: int | None = None  # None: the deployment's own (a switch), else 8080
    host: str | None = None  # None: the deployment's own (a switch), else 127.0.0.1
    replicas: int | None = None  # None: a confirmed profile's workers (local, docker), else 1
    cpu: float | None = None
    memory: str | None = None
    env: list[str] = field(default_factory=list)
    api_key_env: str | None = None
    collect: bool = False
    wait_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployResult:
    """What a create, switch or rollback did (or, with --dry-run, would do)."""

    action: str  # create, switch, rollback, plan
    deployment: str
    target: str
    revision: int
    ref: str
    digest: str
    endpoint: str | None
    resources: dict[str, Any]
    smoke: dict[str, Any]
    previous_revision: int | None
    models: list[str] = field(default_factory=list)  # every version served: `ref` first
    seconds: float | None = None
    state: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
