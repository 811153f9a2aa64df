"""The docker deployment target: each revision a container, run through the docker SDK.

With host networking (the default, and all an engine started with --bridge=none allows) a
revision listens on the host's HOST:PORT and switches exactly like a local one: the listener is
handed to the new container through a unix socket in the deployment folder, which every
revision's container mounts at /deploy. With a published port (`--network publish`, needs a
bridge) docker-proxy owns the port and nothing can be handed over: the old container stops
before the new one starts, and requests in that gap fail.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_cli.domain import memory_bytes
from mlops_cli.errors import ExternalToolError, UsageError
from mlops_cli.serving.config import METRICS_DIR_ENV
from mlops_cli.targets import docker, interrupts
from mlops_cli.targets.base import IMAGE_USER_ID, DeploySpec, RevisionState, tuning_args
from mlops_cli.targets.switching import (
    RunPaths,
    forget,
    holds_listener,
    log_path,
    run_switch,
    short_dir,
    workdirs,
)

MOUNT = "/deploy"
STOP_TIMEOUT = 35  # the server's graceful timeout (30 s) and a margin
NETWORKS = ("host", "publish")


def container_name(spec: DeploySpec, revision: int | None = None, worker: int = 0) -> str:
    """`mlops-NAME-rN` (worker 0), `mlops-NAME-rN-wI` for the other workers of a revision."""
    base = f"mlops-{spec.name}-r{spec.revision if revision is None else revision}"
    return f"{base}-w{worker}" if worker else base


def _network(spec: DeploySpec) -> str:
    network = spec.options.get("network", "host")
    if network not in NETWORKS:
        raise UsageError(f"--network {network!r}: use host or publish")
    return network


def run_settings(spec: DeploySpec, worker: int = 0) -> dict[str, Any]:
    """The docker SDK's `containers.run` keyword arguments for this revision (shown by --dry-run)."""
    network = _network(spec)
    command = ["--model-dir", "/model", "--drain-seconds", str(spec.options.get("drain_seconds", 3.0))]
    paths = RunPaths(Path(MOUNT) / "run", Path(MOUNT) / "run")
    command += ["--control", paths.control(spec.revision, worker=worker)]
    command += ["--gate", paths.gate(spec.revision, worker=worker)]
    if network == "host":
        command += ["--host", spec.host, "--port", str(spec.port)]
    else:
        command += ["--host", "0.0.0.0", "--port", "8080"]
    command += tuning_args(spec)
    if spec.collect:
        command += ["--collect", f"{MOUNT}/collected"]
    if spec.api_key_env:
        command += ["--api-key-env", spec.api_key_env]
    # PORT: the image's HEALTHCHECK probes $PORT, so Docker's health status is right too.
    environment = {**spec.env, "PORT": str(spec.port if network == "host" else 8080)}
    if spec.replicas > 1:  # one /metrics for every worker (container) of the revision
        environment[METRICS_DIR_ENV] = paths.metrics(spec.revision)
    if spec.api_key_env:
        environment[spec.api_key_env] = os.environ.get(spec.api_key_env, "")
    settings: dict[str, Any] = {
        "image": spec.image,
        "name": container_name(spec, worker=worker),
        "command": command,
        "detach": True,
        "environment": environment,
        "labels": {
            "mlops.deployment": spec.name,
            "mlops.revision": str(spec.revision),
            "mlops.worker": str(worker),
            "mlops.model.name": spec.model,
            "mlops.model.version": str(spec.version),
            "mlops.model.digest": spec.digest,
        },
        "restart_policy": {"Name": "unless-stopped"},
        "user": container_user(),
        # Only the two folders the server writes in: the rest of the deployment's folder (the
        # journal, the lock, the logs) stays out of the container's reach.
        "volumes": {
            str(spec.workdir / part): {"bind": f"{MOUNT}/{part}", "mode": "rw"}
            for part in ("run", "collected")
        },
    }
    if spec.cpu:
        settings["nano_cpus"] = int(spec.cpu * 1e9)
    if spec.memory:
        settings["mem_limit"] = memory_bytes(spec.memory)
    if network == "host":
        settings["network_mode"] = "host"
    else:
        settings["ports"] = {"8080/tcp": (spec.host, spec.port)}
    return settings


def container_user() -> str:
    """The uid the container runs as: the image's own user when we are root (the deployment's
    folders are then handed to it), else ours, so owner-only folders need no opening at all."""
    if os.getuid() == 0:
        return f"{IMAGE_USER_ID}:{IMAGE_USER_ID}"
    return f"{os.getuid()}:{os.getgid()}"


def _give_container_access(folder: Path) -> None:
    """The container's uid owns run/ and collected/ (mode stays 0700); they are all it mounts."""
    if os.getuid() != 0:
        return  # the container runs as our uid (container_user)
    for path in (folder / "run", folder / "collected"):
        os.chown(path, IMAGE_USER_ID, IMAGE_USER_ID)


def _run_paths(spec: DeploySpec) -> RunPaths:
    """The socket folder as this process sees it (a short link when needed) and as containers do."""
    return RunPaths(short_dir(workdirs(spec) / "run"), Path(MOUNT) / "run")


def _endpoint(spec: DeploySpec) -> str:
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"http://{host}:{spec.port}"


class _Container:
    def __init__(self, spec: DeploySpec, settings: dict[str, Any]) -> None:
        from docker.errors import DockerException

        self.spec = spec
        self.engine = docker.client(timeout=120)
        _remove_quietly(self.engine, settings["name"])  # a leftover of an interrupted attempt
        try:
            self.container = self.engine.containers.run(**settings)
        except DockerException as exc:
            raise ExternalToolError(f"docker could not start {settings['name']}: {_explain(exc)}") from None

    def dead(self) -> str | None:
        from docker.errors import DockerException

        try:
            self.container.reload()
        except DockerException as exc:
            return f"container {self.container.name} vanished: {_explain(exc)}"
        state = self.container.attrs.get("State") or {}
        if (
            state.get("Status") in ("exited", "dead")
            or state.get("Restarting")
            or self.container.attrs.get("RestartCount")
        ):
            return f"container {self.container.name} exited with code {state.get('ExitCode')}"
        return None

    def remove(self) -> None:
        _save_logs(self.container, log_path(self.spec))
        with contextlib.suppress(Exception):
            self.container.remove(force=True)

    def log_lines(self) -> list[str]:
        try:
            return self.container.logs(tail=30).decode(errors="replace").splitlines()
        except Exception:  # noqa: BLE001 - the log tail is a courtesy; the error says what failed
            return []


class DockerTarget:
    name = "docker"

    def plan(self, spec: DeploySpec, previous: DeploySpec | None) -> dict[str, Any]:
        settings = run_settings(spec)
        settings["environment"] = sorted(settings["environment"])  # names only: values may be secret
        return {
            "target": "docker",
            "run": settings,
            "endpoint": _endpoint(spec),
            "switch": (
                f"take over the listener of container {container_name(spec, previous.revision)}"
                if previous and _network(spec) == "host"
                else (f"stop {container_name(spec, previous.revision)}, then start" if previous else "start")
            ),
        }

    def switch(self, spec: DeploySpec, previous: DeploySpec | None) -> RevisionState:
        if not 1 <= spec.replicas <= 64:
            raise UsageError("--replicas must be between 1 and 64 for the docker target")
        if not spec.image:
            raise UsageError("the docker target needs an image")
        folder = workdirs(spec)
        _give_container_access(folder)
        engine = docker.client(timeout=120)
        old = _revision_containers(engine, spec.name, previous.revision) if previous else []
        if _network(spec) == "publish":
            if spec.replicas != 1:
                raise UsageError("--network publish runs one container: use --replicas 1")
            return self._switch_published(spec, previous, run_settings(spec), engine, old)
        paths = _run_paths(spec)
        api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        holder: list[_Container] = []

        def start(worker: int) -> _Container:
            holder.append(_Container(spec, run_settings(spec, worker)))
            return holder[-1]

        # The old containers must not come back once they exit after the handoff.
        for container in old:
            _set_restart(container, "no")
        try:
            result = run_switch(spec, previous, paths, start, api_key)
        except BaseException:
            for container in old:
                _set_restart(container, "unless-stopped")
            raise
        container = holder[0].container
        return RevisionState(
            running=True,
            ready=True,
            detail=f"container {container.name} on {_endpoint(spec)} (smoke: {result['smoke']})",
            endpoint=_endpoint(spec),
            info={
                "container": container.name,
                "id": container.id,
                "image": spec.image,
                "smoke": result["smoke"],
                "previous_containers": [c.name for c in old],
            },
        )

    def settle(self, spec: DeploySpec, previous: DeploySpec | None, state: RevisionState) -> None:
        """Wait for the previous revision's containers to drain and exit; keep their logs, remove
        them. An interrupt ends the wait; `delete` or the next switch removes what is left."""
        names = state.info.get("previous_containers") or []
        if not names or previous is None:
            return
        engine = docker.client(timeout=120)
        for name in names:
            container = _find(engine, name)
            if container is not None and not interrupts.requested():
                _retire(container, log_path(spec, previous.revision))
        paths = _run_paths(spec)
        if not interrupts.requested():
            forget(paths, previous.revision, previous.replicas)

    def serves(self, spec: DeploySpec) -> bool:
        paths = _run_paths(spec)
        return holds_listener(paths, spec.revision) is not None

    def discard(self, spec: DeploySpec, current: DeploySpec | None) -> None:
        """Remove `spec`'s containers (it never took traffic); the current ones restart again."""
        engine = docker.client(timeout=120)
        for container in _revision_containers(engine, spec.name, spec.revision):
            _retire(container, log_path(spec), stop=True)
        if current is not None:
            for container in _revision_containers(engine, current.name, current.revision):
                _set_restart(container, "unless-stopped")
        forget(_run_paths(spec), spec.revision, spec.replicas)

    def _switch_published(self, spec, previous, settings, engine, old) -> RevisionState:
        """Published ports: docker-proxy holds the port, so the old container stops first (a gap)."""
        from mlops_cli.serving import gate

        try:
            engine.networks.get("bridge")
        except Exception:  # noqa: BLE001 - any failure means the engine has no bridge network
            raise UsageError(
                "--network publish needs a bridge network, and this Docker engine has none",
                hint="use --network host (what an engine started with --bridge=none allows)",
            ) from None
        for container in old:
            _retire(container, log_path(spec, previous.revision), stop=True)
        started = _Container(spec, settings)
        paths = _run_paths(spec)
        try:
            with gate.gate_client(paths.gate(spec.revision)) as client:
                gate.wait_ready(client, spec.wait_timeout, started.dead)
                smoked = gate.smoke(client, spec.options.get("smoke") or {}, spec.model)
        except BaseException:
            started.remove()
            raise
        return RevisionState(
            True, True, f"container {started.container.name} (smoke: {smoked})", _endpoint(spec)
        )

    def status(self, spec: DeploySpec) -> RevisionState:
        engine = docker.client(timeout=60)
        containers = _revision_containers(engine, spec.name, spec.revision)
        running = [c for c in containers if (c.attrs.get("State") or {}).get("Status") == "running"]
        container = running[0] if running else (containers[0] if containers else None)
        if container is None:
            return RevisionState(False, False, f"container {container_name(spec)} does not exist")
        state = container.attrs.get("State") or {}
        info = {"container": container.name, "id": container.id, "status": state.get("Status")}
        if state.get("Status") != "running":
            detail = (
                f"container {container.name} is {state.get('Status')} (exit code {state.get('ExitCode')})"
            )
            return RevisionState(False, False, detail, None, info)
        from mlops_cli.serving import httpclient as http

        ready, _ = http.ready(spec.host, spec.port)
        who = (
            f"container {container.name}"
            if spec.replicas == 1
            else f"{len(running)}/{spec.replicas} containers"
        )
        detail = f"{who} running; {_endpoint(spec)} {'ready' if ready else 'not ready'}"
        return RevisionState(True, ready, detail, _endpoint(spec), {**info, "running": len(running)})

    def logs(self, spec: DeploySpec, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        engine = docker.client(timeout=60)
        container = _find(engine, container_name(spec))
        if container is None:
            from mlops_cli.targets.local_target import follow_file

            return follow_file(log_path(spec), False, tail, lambda: False)
        return _stream(container, follow, tail)

    def delete(self, spec: DeploySpec) -> None:
        engine = docker.client(timeout=60)
        for container in engine.containers.list(all=True, filters={"label": f"mlops.deployment={spec.name}"}):
            revision = container.labels.get("mlops.revision", "x")
            _retire(container, workdirs(spec) / "logs" / f"r{revision}.log", stop=True)


def _stream(container: Any, follow: bool, tail: int | None) -> Iterator[str]:
    pending = b""
    for chunk in container.logs(stream=True, follow=follow, tail=tail if tail is not None else "all"):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


def _revision_containers(engine: Any, name: str, revision: int) -> list[Any]:
    """The containers of one revision (one per worker), worker 0 first."""
    from docker.errors import DockerException

    labels = [f"mlops.deployment={name}", f"mlops.revision={revision}"]
    try:
        found = engine.containers.list(all=True, filters={"label": labels})
    except DockerException as exc:
        raise ExternalToolError(f"cannot list the containers of {name}: {_explain(exc)}") from None
    return sorted(found, key=lambda c: int(c.labels.get("mlops.worker", "0")))


def _find(engine: Any, name: str) -> Any:
    from docker.errors import DockerException, NotFound

    try:
        return engine.containers.get(name)
    except NotFound:
        return None
    except DockerException as exc:
        raise ExternalToolError(f"cannot inspect container {name}: {_explain(exc)}") from None


def _set_restart(container: Any, policy: str) -> None:
    if container is not None:
        with contextlib.suppress(Exception):
            container.update(restart_policy={"Name": policy})


def _retire(container: Any, log_file: Path, stop: bool = False, append: bool = True) -> None:
    """Wait for (or make) the container to exit gracefully, keep its log, remove it."""
    _set_restart(container, "no")
    with contextlib.suppress(Exception):
        if stop:
            container.stop(timeout=STOP_TIMEOUT)
        else:
            container.wait(timeout=STOP_TIMEOUT)
    _save_logs(container, log_file, append)
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _save_logs(container: Any, path: Path, append: bool = True) -> None:
    with contextlib.suppress(Exception), open(path, "ab" if append else "wb") as out:
        out.write(container.logs())


def _remove_quietly(engine: Any, name: str) -> None:
    found = _find(engine, name)
    if found is not None:
        with contextlib.suppress(Exception):
            found.remove(force=True)


def _explain(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc)
