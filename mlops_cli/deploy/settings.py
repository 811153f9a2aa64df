"""Checking what a user asks a deployment to be: its name, address, resources and environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.domain import ModelVersion, memory_bytes
from mlops_cli.errors import UsageError

# A DNS label: what a container name, a Kubernetes object and a folder name all accept.
NAME_PATTERN = re.compile(r"[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?")
DEFAULT_CPU = 1.0
DEFAULT_MEMORY = "512Mi"


def validate_deployment_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UsageError(
            f"invalid deployment name {name!r}",
            hint="use 1-53 characters of a-z 0-9 and -, starting and ending with a letter or digit",
        )
    return name


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(f"--env {pair!r} is not KEY=VALUE with a variable name as KEY")
        env[key] = value
    return env


@dataclass(frozen=True)
class Resources:
    cpu: float
    memory: str
    source: str  # "options", "profile" (the version's newest recommendation), "defaults", or a mix
    serving: dict[str, Any] = field(default_factory=dict)  # workers, threads, batch_max_size, providers
    note: str | None = None  # why a stored recommendation was not applied

    def to_dict(self) -> dict[str, Any]:
        found = {"cpu": self.cpu, "memory": self.memory, "source": self.source}
        if self.serving:
            found["serving"] = self.serving
        if self.note:
            found["note"] = self.note
        return found


def resources(version: ModelVersion, cpu: float | None, memory: str | None) -> Resources:
    """--cpu/--memory, else the newest `profile` recommendation when it was confirmed (measured
    in a container with those limits), else the defaults.

    A recommendation comes with the serving settings it was measured with (workers, threads,
    batch size): its memory figure holds only for them. An unconfirmed one is not applied;
    `note` says so and how to confirm it.
    """
    from mlops_cli.profile.stored import newest_recommendation

    found = newest_recommendation(list(version.artifacts)) or {}
    confirmed = found.get("confirmed") is True
    recommendation = found if confirmed else {}
    note = None
    if found and not confirmed and (cpu is None or memory is None):
        note = (
            f"the newest profile (cpu {found.get('cpu')}, memory {found.get('memory')}) was not confirmed "
            f"in a container, so it is not applied: run `mlops profile {version.ref} --in-container` "
            "to confirm it, or pass --cpu/--memory"
        )
    sources = []
    if cpu is None:
        cpu_value = recommendation.get("cpu")
        cpu, origin = (
            (float(cpu_value), "profile")
            if isinstance(cpu_value, (int, float))
            else (DEFAULT_CPU, "defaults")
        )
        sources.append(f"cpu: {origin}")
    else:
        sources.append("cpu: options")
    if memory is None:
        mem_value = recommendation.get("memory")
        memory, origin = (str(mem_value), "profile") if mem_value else (DEFAULT_MEMORY, "defaults")
        sources.append(f"memory: {origin}")
    else:
        sources.append("memory: options")
    if cpu <= 0:
        raise UsageError(f"--cpu {cpu:g} must be positive")
    memory_bytes(memory)
    serving = {}
    if any(source.endswith("profile") for source in sources):
        wanted = {"workers": "workers", "threads": "threads", "batch_max_size": "max_batch_size"}
        serving = {key: int(recommendation[name]) for key, name in wanted.items() if recommendation.get(name)}
        if recommendation.get("providers"):
            serving["providers"] = str(recommendation["providers"])
    return Resources(float(cpu), memory, ", ".join(sources), serving, note)


def with_profile_serving(
    resources: Resources, target: str, options: dict[str, Any], replicas: int | None
) -> tuple[dict[str, Any], int]:
    """The options and worker count a deployment runs with: a confirmed profile's threads and
    batch size, and its workers (server processes for local and docker, `--workers` in every
    pod for kubernetes, whose replicas are pods); --replicas wins over the profile."""
    serving = resources.serving
    options = {**options, **{k: serving[k] for k in ("threads", "batch_max_size") if k in serving}}
    if serving.get("providers") and not options.get("providers"):  # measured with them
        options["providers"] = serving["providers"]
    workers = serving.get("workers")
    if target == "kubernetes":
        if workers:
            options["workers"] = workers
        return options, replicas or 1
    return options, replicas or workers or 1


def check_address(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number")
    if not host:
        raise UsageError("--host cannot be empty")


def check_api_key(var: str | None) -> None:
    if var and not os.environ.get(var):
        raise UsageError(
            f"--api-key-env {var}: that environment variable is empty or unset",
            hint=f"export {var}=<a long random key>",
        )


DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
PLACE_OPTIONS = ("network",)  # target options that decide where traffic arrives
KEPT_OPTIONS = ("providers",)  # target options a switch keeps from the deployment unless given


def same_place(
    name: str, host: str | None, port: int | None, options: dict[str, Any], current: dict[str, Any] | None
) -> tuple[str, int, dict[str, Any]]:
    """Host, port and options of a switch: the deployment's own unless given, and never others.

    A switch hands the listener over, so it cannot move it: a different --host, --port or
    --network is refused (exit 2); a create takes the defaults.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if current is None:
        return host or DEFAULT_HOST, DEFAULT_PORT if port is None else port, options
    current_options = current.get("options") or {}
    asked = {"host": host, "port": port, **{k: options.get(k) for k in PLACE_OPTIONS}}
    now = {
        "host": current["host"],
        "port": current["port"],
        **{k: current_options.get(k) for k in PLACE_OPTIONS},
    }
    for key, value in asked.items():
        if value is not None and now[key] is not None and value != now[key]:
            raise UsageError(
                f"{name} serves with --{key} {now[key]}; a switch cannot move it to {value}",
                hint=f"leave --{key} out to keep it, or `mlops deploy delete {name}` and create it again",
            )
    for key in PLACE_OPTIONS:
        if now[key] is not None:
            options[key] = now[key]
    for key in KEPT_OPTIONS:
        if options.get(key) is None and current_options.get(key) is not None:
            options[key] = current_options[key]
    return now["host"], now["port"], options


def check_providers(text: str | None, target: str) -> str | None:
    """`--providers` as the server will take it: names checked here (exit 2 for a typo); for the
    local target also whether this machine's onnxruntime has one of them (a container or a pod
    decides with its own build, so a GPU node can run what this laptop cannot)."""
    if text is None:
        return None
    from mlops_cli.runtime.providers import choose_providers, parse_providers

    names = parse_providers(text)
    if target == "local":
        choose_providers(names)
    return ",".join(names)
