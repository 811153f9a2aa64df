"""The switch every process-based target (local, docker) makes, in one place.

Start the new revision on its private gate socket; prove it (ready, then the smoke inference);
then move the public listener to it: `bind` for the first revision (or when no previous revision
answers), `takeover` from the previous revision's control socket otherwise. Until that last
step the previous revision is never touched, so any failure only removes the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlops_cli.errors import MlopsError, RevisionRefusedError
from mlops_cli.serving import gate
from mlops_cli.targets import interrupts
from mlops_cli.targets.base import DeploySpec

SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep room for "rNNN.control.sock"


class Started(Protocol):
    """A new revision that is starting: how to tell it died, read its log, remove it."""

    def dead(self) -> str | None: ...

    def remove(self) -> None: ...

    def log_lines(self) -> list[str]: ...


@dataclass(frozen=True)
class RunPaths:
    """The deployment's socket folder as this process sees it (`host`) and as servers do.

    A revision with several workers (`--replicas`) has one server process per worker, each with
    its own sockets; worker 0's names carry no worker number.
    """

    host: Path
    server: Path

    def _name(self, revision: int, worker: int, kind: str, side: str) -> str:
        folder = self.host if side == "host" else self.server
        return str(folder / f"r{revision}{f'w{worker}' if worker else ''}.{kind}.sock")

    def control(self, revision: int, side: str = "host", worker: int = 0) -> str:
        return self._name(revision, worker, "control", side)

    def gate(self, revision: int, side: str = "host", worker: int = 0) -> str:
        return self._name(revision, worker, "gate", side)

    def metrics(self, revision: int, side: str = "host") -> str:
        """The folder where a revision's workers share their /metrics figures (metrics_share.py)."""
        return str((self.host if side == "host" else self.server) / f"r{revision}.metrics")


def short_dir(folder: Path) -> Path:
    """`folder`, or a short symlink to it when unix socket paths inside would be too long."""
    if len(str(folder)) + 24 <= SOCKET_PATH_MAX:
        return folder
    link = Path(tempfile.gettempdir()) / f"mlops-run-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}"
    if not (link.is_symlink() and os.readlink(link) == str(folder)):
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(folder)
    return link


def workdirs(spec: DeploySpec) -> Path:
    """Create the deployment folder's parts: run/ (sockets), logs/, collected/, owner-only:
    whoever reaches run/ can stop a revision or take its port, and collected/ is request data."""
    if spec.workdir is None:
        raise MlopsError("a deployment spec without its folder (workdir) cannot run")
    private_dir(spec.workdir)
    for part in ("run", "logs", "collected"):
        private_dir(spec.workdir / part)
    return spec.workdir


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700), created when missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def log_path(spec: DeploySpec, revision: int | None = None) -> Path:
    return workdirs(spec) / "logs" / f"r{spec.revision if revision is None else revision}.log"


def read_tail(path: Path, n: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def previous_status(paths: RunPaths, previous: DeploySpec | None) -> list[dict[str, Any]]:
    """What each worker of the previous revision says on its control socket; [] when worker 0
    does not answer or holds no listener (then the new revision binds the port itself)."""
    if previous is None:
        return []
    answers = []
    for worker in range(previous.replicas):
        answer = ask(paths.control(previous.revision, worker=worker), "status")
        if worker == 0 and not (answer.get("ok") and answer.get("public")):
            return []
        if answer.get("ok"):
            answers.append({**answer, "worker": worker})
    return answers


def forget(paths: RunPaths, revision: int, workers: int = 1) -> None:
    """Remove a revision's socket files, start markers and shared metrics (it has exited)."""
    shutil.rmtree(paths.metrics(revision), ignore_errors=True)
    for worker in range(max(workers, 1)):
        control, gate_path = paths.control(revision, worker=worker), paths.gate(revision, worker=worker)
        for path in (control, gate_path, f"{control}.started"):
            with contextlib.suppress(OSError):
                os.unlink(path)


def run_switch(
    spec: DeploySpec,
    previous: DeploySpec | None,
    paths: RunPaths,
    start: Callable[[int], Started],
    api_key: str | None = None,
) -> dict[str, Any]:
    """Start, gate and promote `spec`'s revision (each of its workers); returns what happened.

    Raises RevisionRefusedError (with the new revision's log tail) when it fails before it took
    traffic; the new revision is removed then, and `previous` has not been touched. From the
    takeover on, interrupts are held (targets/interrupts.py): the switch completes or fails
    as a whole, and a failed takeover asks both revisions what they hold before removing one.
    """
    before = previous_status(paths, previous)
    started: list[Started] = []
    try:
        for worker in range(spec.replicas):
            with interrupts.deferred_block():  # a Ctrl-C here must find the process in `started`
                started.append(start(worker))
        for worker, process in enumerate(started):
            with gate.gate_client(paths.gate(spec.revision, worker=worker), api_key) as client:
                gate.wait_ready(client, spec.wait_timeout, process.dead)
                smoked = gate.smoke(client, spec.options.get("smoke") or {}, spec.model)
        interrupts.arm()  # the commit point: from here the switch completes or fails as a whole
        answer = _promote(spec, previous, paths, before)
    except BaseException as exc:
        interrupts.arm()  # a second Ctrl-C must not cut the cleanup short
        lines = started[0].log_lines() if started else []
        for process in started:
            process.remove()
        forget(paths, spec.revision, spec.replicas)
        if isinstance(exc, MlopsError):
            kept = "the previous revision keeps serving" if before else "nothing was serving before"
            raise RevisionRefusedError(
                f"revision {spec.revision} of {spec.name} ({spec.model}:{spec.version}) "
                f"was refused: {exc.message}",
                hint=f"{kept}; the new one's whole log is in {log_path(spec)}",
                log_tail=lines,
            ) from None
        raise
    # The new revision serves from here on: its siblings join it, the old workers retire. A
    # sibling that cannot join is removed (the revision runs with fewer workers, and says so).
    workers = 1
    shared_from = paths.control(spec.revision, "server")
    for worker in range(1, spec.replicas):
        try:
            _command(paths.control(spec.revision, worker=worker), f"share {shared_from}")
            workers += 1
        except MlopsError:
            started[worker].remove()
    for old in before[1:]:
        ask(paths.control(previous.revision, worker=old["worker"]), "retire", timeout=30)
    return {
        "control": answer,
        "smoke": smoked,
        "workers": workers,
        "handed_over_from": previous.revision if before else None,
        "previous_pids": [old.get("pid") for old in before],
    }


def _promote(
    spec: DeploySpec, previous: DeploySpec | None, paths: RunPaths, before: list[dict[str, Any]]
) -> dict[str, Any]:
    """Move the public listener to the new revision: `bind`, or `takeover` from `previous`.

    When the command fails (an error, a timeout), what happened is asked, not assumed: the new
    revision may hold the listener after all (the switch did happen), the old one may still hold
    it (nothing happened), or neither (the old one stopped accepting): then the new one binds.
    """
    new_control = paths.control(spec.revision)
    command = f"takeover {paths.control(previous.revision, 'server')}" if before else "bind"
    if command == "bind":
        command = f"bind {spec.host} {spec.port}"
    try:
        return _command(new_control, command)
    except gate.GateError as failed:
        if not before:
            raise
        now = ask(new_control, "status")
        if now.get("public"):
            return now  # the listener did move: the switch happened
        if ask(paths.control(previous.revision), "status").get("public"):
            raise  # the old revision still holds it: the new one is removed, nothing changed
        try:
            return _command(new_control, f"bind {spec.host} {spec.port}")
        except gate.GateError as rebind:
            raise gate.GateError(f"{failed}; binding the port again failed too: {rebind}") from None


def ask(control: str, command: str, timeout: float = 5.0) -> dict[str, Any]:
    """A control socket's answer to `command`, or {} when it does not answer."""
    from mlops_cli.serving import handoff

    try:
        return handoff.request(control, command, timeout=timeout)
    except (OSError, ValueError):
        return {}


def holds_listener(paths: RunPaths, revision: int) -> dict[str, Any] | None:
    """What worker 0 of `revision` says when it holds the public listener, else None."""
    answer = ask(paths.control(revision), "status")
    return answer if answer.get("ok") and answer.get("public") else None


def _command(control: str, command: str) -> dict[str, Any]:
    from mlops_cli.serving import handoff

    try:
        answer = handoff.request(control, command, timeout=30)
    except (OSError, ValueError) as exc:
        raise gate.GateError(f"the new revision did not take the listener: {exc}") from None
    if not answer.get("ok"):
        raise gate.GateError(str(answer.get("error") or "the new revision refused the listener"))
    return answer
