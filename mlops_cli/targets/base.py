"""The small interface every deployment target implements; `deploy/` drives targets only through it.

A new target is one module with a class satisfying `Target`; a target never imports `deploy/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# The non-root uid and gid every mlops image runs as: packaging writes it into the Dockerfile's
# USER, the targets run containers and pods as it and hand it their writable folders. Here, not
# in domain.py: `mlops package --help` reads the Dockerfile module, and must not load the domain.
IMAGE_USER_ID = 10001


@dataclass(frozen=True)
class DeploySpec:
    """Everything a target needs to run one revision of a deployment."""

    name: str  # the deployment's name
    revision: int  # 1, 2, ... (a switch or rollback makes a new revision)
    model: str  # model name
    version: int
    digest: str  # the version's digest ("sha256:...")
    port: int = 8080
    host: str = "127.0.0.1"
    replicas: int = 1  # kubernetes: pods; local/docker: serving workers
    cpu: float | None = None  # cores
    memory: str | None = None  # a Kubernetes quantity, e.g. "512Mi"
    env: dict[str, str] = field(default_factory=dict)
    api_key_env: str | None = None  # the NAME of the variable holding the API key, never its value
    collect: bool = False
    model_dir: Path | None = None  # local: the verified model files to serve
    image: str | None = None  # docker / kubernetes: the image to run
    workdir: Path | None = None  # .mlops/deployments/NAME/
    wait_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)  # target-specific (network, namespace, ...)
    # Several versions in one server: the others, each {model, version, digest} (and, on the
    # local target, the model_dir of its files); the image of an image target holds them all.
    others: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refs(self) -> list[str]:
        return [f"{self.model}:{self.version}", *(f"{o['model']}:{o['version']}" for o in self.others)]


def tuning_args(spec: DeploySpec) -> list[str]:
    """Server arguments for the settings a confirmed profile measured (`threads`,
    `batch_max_size` in the options) and the execution providers asked for (`providers`)."""
    args = []
    if spec.options.get("threads"):
        args += ["--threads", str(int(spec.options["threads"]))]
    if spec.options.get("batch_max_size"):
        args += ["--batch-max-size", str(int(spec.options["batch_max_size"]))]
    if spec.options.get("providers"):  # chosen where the server runs: its onnxruntime build decides
        args += ["--providers", str(spec.options["providers"])]
    return args


@dataclass(frozen=True)
class RevisionState:
    """What a target observes about a revision: the truth, not the record."""

    running: bool
    ready: bool
    detail: str  # one line a human reads ("process 1234 exited with 1", "2/2 pods ready")
    endpoint: str | None = None  # where it answers, e.g. "http://127.0.0.1:8080"
    info: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    name: str  # "local", "docker", "kubernetes"

    def plan(self, spec: DeploySpec, previous: DeploySpec | None) -> dict[str, Any]:
        """What `switch` would do, changing nothing (--dry-run): settings, argv, YAML text."""

    def switch(self, spec: DeploySpec, previous: DeploySpec | None) -> RevisionState:
        """Start `spec`'s revision, gate it (ready + smoke), move traffic to it, retire `previous`.

        On any failure the new revision is removed, `previous` keeps serving untouched, and a
        MlopsError subclass is raised carrying the new revision's log tail.
        """

    def settle(self, spec: DeploySpec, previous: DeploySpec | None, state: RevisionState) -> None:
        """After the switch is recorded: wait for `previous` to drain and exit, then forget it.
        Ends early when an interrupt arrived (targets/interrupts.py); it is never undone."""

    def serves(self, spec: DeploySpec) -> bool:
        """Whether `spec`'s revision holds the traffic now (asked, not read from records)."""

    def discard(self, spec: DeploySpec, current: DeploySpec | None) -> None:
        """Remove a revision that never took traffic (its deployer was killed mid-switch)."""

    def status(self, spec: DeploySpec) -> RevisionState: ...

    def logs(self, spec: DeploySpec, follow: bool = False, tail: int | None = None) -> Iterator[str]: ...

    def delete(self, spec: DeploySpec) -> None:
        """Stop and remove everything the deployment runs, every revision, recorded or not."""
