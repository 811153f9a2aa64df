"""The Docker runner: every call to the engine goes through here, via the docker SDK.

Engine errors become ExternalToolError (exit 4) with what to do; a failed build carries the
failing step and the tail of its log.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.errors import ExternalToolError, MissingDependencyError

BUILD_TIMEOUT = 1800
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class ImageBuildError(ExternalToolError):
    """`docker build` failed; `step` is the failing instruction, `log_tail` its last lines."""

    def __init__(self, message: str, step: str | None, log_tail: list[str]) -> None:
        super().__init__(message, hint="the log tail above shows the failing step's output")
        self.step = step
        self.log_tail = log_tail


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    size: int
    labels: dict[str, str]
    user: str
    architecture: str = ""  # OCI name: amd64, arm64
    env: tuple[str, ...] = ()  # Config.Env, KEY=VALUE


def client(timeout: int = BUILD_TIMEOUT) -> Any:
    """A docker SDK client that has answered a ping; ExternalToolError when no engine answers."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise MissingDependencyError("docker", "docker") from None
    try:
        engine = docker.from_env(timeout=timeout)
        engine.ping()
    except DockerException as exc:
        # The SDK's text nests urllib3's (pools, retries, reprs): one line here, and the
        # chained exception shows all of it under MLOPS_DEBUG=1.
        raise engine_unreachable(exc) from exc
    return engine


_REASONS = (
    ("Permission denied", "permission denied (is this user allowed to use the engine's socket?)"),
    ("No such file", "no socket there (is dockerd running?)"),
    ("Connection refused", "connection refused (is dockerd running?)"),
    ("timed out", "no answer in time"),
    ("Name or service not known", "unknown host"),
)


def engine_unreachable(exc: BaseException) -> ExternalToolError:
    """One short line for an engine that does not answer: where we looked and why it failed."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    text = str(exc)
    reason = next((why for needle, why in _REASONS if needle in text), "no answer")
    return ExternalToolError(
        f"cannot reach the Docker engine at {host}: {reason}",
        hint="start it (dockerd, Docker Desktop) or point DOCKER_HOST at it; MLOPS_DEBUG=1 shows the detail",
    )


def build(context: Path, tag: str, on_line: Callable[[str], None], platform: str | None = None) -> str:
    """Build `context` as `tag` with the network off (for `platform`, e.g. linux/arm64, when
    given: its RUN steps then run under the host's binfmt emulation); returns the image id.

    Each log line goes to `on_line` as it arrives. Raises ImageBuildError on failure.
    """
    from docker.errors import APIError, DockerException

    engine = client()
    step: str | None = None
    tail: deque[str] = deque(maxlen=30)
    image_id: str | None = None
    try:
        stream = engine.api.build(
            path=str(context),
            tag=tag,
            network_mode="none",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            **({"platform": platform} if platform else {}),
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    line = line.rstrip()
                    if not line:
                        continue
                    if STEP.match(line):
                        step = line
                        tail.clear()
                    tail.append(line)
                    on_line(line)
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                error = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                tail.append(error.strip())
                where = f" at {step}" if step else ""
                raise ImageBuildError(f"docker build failed{where}: {error.strip()}", step, list(tail))
    except APIError as exc:
        raise ImageBuildError(f"docker build failed: {exc.explanation or exc}", step, list(tail)) from None
    except DockerException as exc:
        raise ExternalToolError(f"docker build failed: {exc}") from None
    if image_id is None:
        image_id = inspect(tag).id
    return image_id


def inspect(name: str) -> ImageInfo:
    """Id, tags, size, labels and user of an image; ExternalToolError when it does not exist."""
    from docker.errors import DockerException, ImageNotFound

    engine = client(timeout=60)
    try:
        image = engine.images.get(name)
    except ImageNotFound:
        raise ExternalToolError(
            f"no Docker image {name!r}",
            hint="no image can be pulled while building; build or load the base image first",
        ) from None
    except DockerException as exc:
        raise ExternalToolError(f"cannot inspect image {name!r}: {exc}") from None
    config = image.attrs.get("Config") or {}
    return ImageInfo(
        id=image.id,
        tags=tuple(image.tags),
        size=int(image.attrs.get("Size") or 0),
        labels=dict(config.get("Labels") or {}),
        user=config.get("User") or "",
        architecture=image.attrs.get("Architecture") or "",
        env=tuple(config.get("Env") or ()),
    )


def push(image: str, repository: str, tag: str) -> str:
    """Tag the local `image` as `repository:tag` and push it; returns `repository@sha256:...`.

    The digest reference is what a cluster should run: a tag can move, a digest cannot. Raises
    ExternalToolError when the image is missing or the registry refuses (the registry's words).
    """
    from docker.errors import DockerException, ImageNotFound

    engine = client(timeout=600)
    target = f"{repository}:{tag}"
    try:
        engine.images.get(image).tag(repository, tag=tag)
    except ImageNotFound:
        raise ExternalToolError(
            f"no Docker image {image!r} to push", hint="build it first with `mlops package`"
        ) from None
    except DockerException as exc:
        raise ExternalToolError(f"cannot tag {image!r} as {target!r}: {exc}") from None
    digest: str | None = None
    try:
        for chunk in engine.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                error = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise ExternalToolError(
                    f"docker push {target} failed: {error.strip()}",
                    hint="log in to the registry (`docker login`) or check the repository name",
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = aux["Digest"]
    except DockerException as exc:
        raise ExternalToolError(f"docker push {target} failed: {exc}") from None
    return f"{repository}@{digest}" if digest else target


def image_exists(name: str) -> bool:
    """Whether the engine has this image (by tag or id); ExternalToolError when it cannot say."""
    from docker.errors import DockerException, ImageNotFound

    engine = client(timeout=60)
    try:
        engine.images.get(name)
    except ImageNotFound:
        return False
    except DockerException as exc:
        raise ExternalToolError(f"cannot inspect image {name!r}: {exc}") from None
    return True


def run_detached(
    image: str,
    *,
    name: str,
    command: list[str],
    environment: dict[str, str],
    cpus: float | None = None,
    memory_bytes: int | None = None,
    labels: dict[str, str] | None = None,
) -> Any:
    """Start a container on the host network with optional CPU and memory limits.

    `cpus` becomes a CFS quota (`--cpus`), `memory_bytes` a hard limit with no swap. Returns the
    SDK's container object; ExternalToolError when the engine refuses.
    """
    from docker.errors import DockerException

    engine = client(timeout=120)
    limits: dict[str, Any] = {}
    if cpus is not None:
        limits["nano_cpus"] = int(round(cpus * 1e9))
    if memory_bytes is not None:
        limits["mem_limit"] = int(memory_bytes)
        limits["memswap_limit"] = int(memory_bytes)
    try:
        return engine.containers.run(
            image,
            command=command,
            name=name,
            environment=environment,
            network_mode="host",
            detach=True,
            labels=labels or {},
            **limits,
        )
    except DockerException as exc:
        raise ExternalToolError(f"cannot start a container from {image}: {exc}") from None


def container_state(container: Any) -> dict[str, Any]:
    """The container's State (Pid, Running, OOMKilled, ExitCode), freshly read."""
    from docker.errors import DockerException

    try:
        container.reload()
    except DockerException as exc:
        raise ExternalToolError(f"cannot inspect container {container.name}: {exc}") from None
    return dict(container.attrs.get("State") or {})


def container_logs(container: Any, tail: int = 20) -> str:
    from docker.errors import DockerException

    try:
        return container.logs(tail=tail).decode(errors="replace")
    except DockerException:
        return ""


def remove_container(container: Any) -> None:
    """Stop and remove a container; best effort, since it may already be gone."""
    from docker.errors import DockerException, NotFound

    try:
        container.remove(force=True)
    except NotFound:
        pass
    except DockerException as exc:
        raise ExternalToolError(f"cannot remove container {container.name}: {exc}") from None
