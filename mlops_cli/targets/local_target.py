"""The local deployment target: each revision a detached server process on this machine.

A revision runs `python -m mlops_cli.serving` in its own session (Ctrl-C in the terminal that
deployed it does not reach it), with its log in `logs/rN.log` and its sockets in `run/` under the
deployment's folder; `pid` and `server.log` point at the revision that serves.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_cli.environments.venvs import isolated_env
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.serving import httpclient as http
from mlops_cli.serving.config import METRICS_DIR_ENV
from mlops_cli.targets import interrupts, procs
from mlops_cli.targets.base import DeploySpec, RevisionState, tuning_args
from mlops_cli.targets.switching import (
    RunPaths,
    forget,
    holds_listener,
    log_path,
    read_tail,
    run_switch,
    short_dir,
    workdirs,
)

GRACEFUL_TIMEOUT = 35.0
MAX_WORKERS = 64  # the server's own graceful timeout (30 s) and a margin


def _paths(spec: DeploySpec) -> RunPaths:
    run = short_dir(workdirs(spec) / "run")
    return RunPaths(run, run)


def argv(spec: DeploySpec, paths: RunPaths, worker: int = 0) -> list[str]:
    if spec.model_dir is None:
        raise MlopsError("the local target needs the model's files (model_dir)")
    args = [
        spec.options.get("python") or sys.executable,  # an entry script's environment, if any
        "-m",
        "mlops_cli.serving",
        "--model-dir",
        str(spec.model_dir),
        "--host",
        spec.host,
        "--port",
        str(spec.port),
        "--control",
        paths.control(spec.revision, worker=worker),
        "--gate",
        paths.gate(spec.revision, worker=worker),
        "--drain-seconds",
        str(spec.options.get("drain_seconds", 3.0)),
    ]
    for other in spec.others:  # a multi-model revision: each version its own model
        args += ["--more-model-dir", str(other["model_dir"])]
    args += tuning_args(spec)
    if spec.collect:
        args += ["--collect", str(spec.workdir / "collected")]
    if spec.api_key_env:
        args += ["--api-key-env", spec.api_key_env]
    return args


class _Process:
    def __init__(self, spec: DeploySpec, args: list[str], worker: int, paths: RunPaths) -> None:
        self.log = log_path(spec)
        self.folder = spec.workdir
        env = {**(isolated_env() if spec.options.get("python") else os.environ), **spec.env}
        if spec.replicas > 1:  # one /metrics for every worker of the revision
            env[METRICS_DIR_ENV] = paths.metrics(spec.revision, side="server")
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                args,
                cwd=spec.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.track(self.folder, spec.revision, worker, self.process.pid)

    def dead(self) -> str | None:
        code = self.process.poll()
        return None if code is None else f"process {self.process.pid} exited with {code}"

    def remove(self) -> None:
        procs.stop(self.process.pid, timeout=5.0)
        self.process.poll()
        procs.forget_gone(self.folder)

    def log_lines(self) -> list[str]:
        return read_tail(self.log, 30)


class LocalTarget:
    name = "local"

    def plan(self, spec: DeploySpec, previous: DeploySpec | None) -> dict[str, Any]:
        paths = RunPaths(spec.workdir / "run", spec.workdir / "run") if spec.workdir else None
        return {
            "target": "local",
            "argv": argv(spec, paths) if paths else None,
            "workers": spec.replicas,
            "env": sorted(spec.env),
            "endpoint": _url(spec),
            "log": str(spec.workdir / "logs" / f"r{spec.revision}.log") if spec.workdir else None,
            "switch": (
                f"take over the listener of revision {previous.revision} (SCM_RIGHTS handoff)"
                if previous
                else f"bind {spec.host}:{spec.port}"
            ),
            "limits": "cpu and memory are recorded; the local target does not enforce them",
        }

    def switch(self, spec: DeploySpec, previous: DeploySpec | None) -> RevisionState:
        if not 1 <= spec.replicas <= MAX_WORKERS:
            raise UsageError(f"--replicas must be between 1 and {MAX_WORKERS} for the local target")
        paths = _paths(spec)
        api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        holder: list[_Process] = []

        def start(worker: int) -> _Process:
            holder.append(_Process(spec, argv(spec, paths, worker), worker, paths))
            return holder[-1]

        result = run_switch(spec, previous, paths, start, api_key)
        pids = [p.process.pid for p in holder if p.process.poll() is None]
        _point_at(spec, pids)
        workers = f"{len(pids)} processes" if len(pids) > 1 else f"process {pids[0]}"
        return RevisionState(
            running=True,
            ready=True,
            detail=f"{workers} serving on {_url(spec)} (smoke: {result['smoke']})",
            endpoint=_url(spec),
            info={
                "pids": pids,
                "log": str(log_path(spec)),
                "smoke": result["smoke"],
                "handed_over_from": result["handed_over_from"],
                "previous_pids": [int(pid) for pid in result["previous_pids"] if pid],
            },
        )

    def settle(self, spec: DeploySpec, previous: DeploySpec | None, state: RevisionState) -> None:
        """Wait (until an interrupt) for the previous revision to drain and exit; forget it."""
        old = state.info.get("previous_pids") or []
        deadline = time.monotonic() + GRACEFUL_TIMEOUT
        while any(map(procs.alive, old)) and time.monotonic() < deadline and not interrupts.requested():
            time.sleep(0.02)
        for pid in old:
            procs.wait_gone(pid, 0)  # reap it when it is our child
        if previous is not None and not any(map(procs.alive, old)):
            forget(_paths(spec), previous.revision, previous.replicas)
        procs.forget_gone(spec.workdir)

    def serves(self, spec: DeploySpec) -> bool:
        return holds_listener(_paths(spec), spec.revision) is not None

    def discard(self, spec: DeploySpec, current: DeploySpec | None) -> None:
        """Stop whatever of `spec`'s revision runs (it never took traffic)."""
        procs.stop_tracked(spec.workdir, spec.revision, timeout=5.0)
        forget(_paths(spec), spec.revision, spec.replicas)

    def status(self, spec: DeploySpec) -> RevisionState:
        """The recorded revision's processes, and every other tracked one still running (an old
        revision draining, or one a killed deployer left: `deploy delete` stops them too)."""
        state = self._observe(spec)
        others = [e for e in procs.tracked(spec.workdir) if e.revision != spec.revision and e.running()]
        if not others:
            return state
        listed = ", ".join(f"revision {e.revision} (process {e.pid})" for e in others)
        info = {**state.info, "other_processes": [{"revision": e.revision, "pid": e.pid} for e in others]}
        detail = f"{state.detail}; also running: {listed}"
        return RevisionState(state.running, state.ready, detail, state.endpoint, info)

    def _observe(self, spec: DeploySpec) -> RevisionState:
        from mlops_cli.serving import handoff

        paths = _paths(spec)
        answers, missing = [], []
        for worker in range(spec.replicas):
            try:
                answers.append(
                    handoff.request(paths.control(spec.revision, worker=worker), "status", timeout=5)
                )
            except (OSError, ValueError):
                missing.append(worker)
        pids = _read_pids(spec)
        if not answers:
            dead = [pid for pid in pids if not procs.alive(pid)]
            detail = (
                f"process {', '.join(map(str, dead))} is not running" if dead else "no server answers"
            ) + f" (see {log_path(spec)})"
            return RevisionState(False, False, detail, None, {"pids": pids})
        info = {"pids": [a.get("pid") for a in answers], "workers": len(answers), "missing_workers": missing}
        serving = [a for a in answers if a.get("public")]
        if not serving:
            return RevisionState(True, False, "the server runs but holds no public listener", None, info)
        ready, why = http.ready(spec.host, spec.port)
        who = (
            f"process {serving[0].get('pid')}"
            if spec.replicas == 1
            else f"{len(serving)}/{spec.replicas} workers"
        )
        if missing:
            why += f"; worker(s) {', '.join(map(str, missing))} not answering"
        return RevisionState(True, ready, f"{who} on {_url(spec)}: {why}", _url(spec), info)

    def logs(self, spec: DeploySpec, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        return follow_file(log_path(spec), follow, tail, lambda: any(map(procs.alive, _read_pids(spec))))

    def delete(self, spec: DeploySpec) -> None:
        """Stop every server process the deployment started (any revision, recorded or not)."""
        paths = _paths(spec)
        revisions = {spec.revision} | {entry.revision for entry in procs.tracked(spec.workdir)}
        procs.stop_tracked(spec.workdir, timeout=GRACEFUL_TIMEOUT)
        controls = [paths.control(spec.revision, worker=w) for w in range(spec.replicas)]
        for pid in _read_pids(spec):
            # The pid file could be stale and the number reused: stop it only if it is our server.
            if procs.alive(pid) and any(c in procs.cmdline(pid) for c in controls):
                procs.stop(pid, GRACEFUL_TIMEOUT)
        for revision in revisions:
            forget(paths, revision, max(spec.replicas, MAX_WORKERS))
        for name in ("pid", "server.log"):
            with contextlib.suppress(FileNotFoundError):
                (spec.workdir / name).unlink()


def _url(spec: DeploySpec) -> str:
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"http://{host}:{spec.port}"


def _point_at(spec: DeploySpec, pids: list[int]) -> None:
    """`pid` (one line per worker) and `server.log` name the serving revision (written atomically)."""
    tmp = spec.workdir / ".pid.tmp"
    tmp.write_text("".join(f"{pid}\n" for pid in pids))
    tmp.replace(spec.workdir / "pid")
    link = spec.workdir / ".server.log.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(Path("logs") / f"r{spec.revision}.log")
    link.replace(spec.workdir / "server.log")


def _read_pids(spec: DeploySpec) -> list[int]:
    try:
        return [int(line) for line in (spec.workdir / "pid").read_text().split()]
    except (OSError, ValueError):
        return []


def follow_file(path: Path, follow: bool, tail: int | None, running) -> Iterator[str]:
    """The file's lines (the last `tail`), then new lines as they come while `running()`."""
    if not path.is_file():
        raise MlopsError(f"no log at {path}")
    with open(path, errors="replace") as handle:
        lines = handle.read().splitlines()
        yield from lines[-tail:] if tail else lines
        while follow:
            line = handle.readline()
            if line:
                yield line.rstrip("\n")
            elif not running():
                return
            else:
                time.sleep(0.2)
