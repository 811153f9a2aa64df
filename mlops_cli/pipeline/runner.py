"""`pipeline run` and `pipeline status`: run what changed, in parallel where the graph allows.

Worker threads only wait for step processes; everything touching the store, the lock file or
the state cache happens in the main thread, between steps (one SQLite connection, no races).
A step is recorded in the lock only once it succeeded, its outs were checked and stored, and
its deps were seen unchanged after it ran: a dep edited while the step ran makes the step fail
(its outputs were made from an input the lock cannot name, treeverse/dvc#11058).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import CheckFailedError, MlopsError, UsageError
from mlops_cli.pipeline import report as st
from mlops_cli.pipeline.evaluate import Decision, LoadedPipeline
from mlops_cli.pipeline.lock import LockedPath, LockEntry
from mlops_cli.pipeline.outputs import remove_outs, restore_out, store_out
from mlops_cli.pipeline.processes import RunLock, StepProcesses, log_tail
from mlops_cli.pipeline.report import PipelineReport, StepReport
from mlops_cli.store.cas import ObjectStore
from mlops_cli.store.project import StorePaths

if TYPE_CHECKING:  # concurrent.futures imports logging: ~10 ms a no-op run does not need
    from concurrent.futures import Future, ThreadPoolExecutor

    from mlops_cli.domain import Provenance
    from mlops_cli.store import Store

JOB_KIND = "pipeline"
Note = Callable[[str], None]


def pipeline_status(paths: StorePaths, file: Path, targets: list[str], force: bool = False) -> PipelineReport:
    """What a run would do (`pipeline status`, `pipeline run --dry-run`), changing nothing but
    the state cache. Raises what loading the pipeline raises."""
    loaded = LoadedPipeline(file, targets, ObjectStore(paths.objects, paths.tmp), paths.cache)
    result = PipelineReport(pipeline=str(loaded.spec.path), dry_run=True)
    changed: set[str] = set()
    for name in loaded.selected:
        ups = [u for u in loaded.graph.upstream[name] if u in changed]
        decision = loaded.decide(name, force, ups)
        if decision.reasons and not decision.restore:
            changed.add(name)
        status = st.RESTORED if decision.restore else st.CHANGED if decision.reasons else st.SKIPPED
        result.steps.append(StepReport(name, status, decision.reasons))
    loaded.cache.save()
    result.files_hashed = loaded.cache.hashed
    return result


def run_pipeline(
    paths: StorePaths,
    file: Path,
    targets: list[str],
    *,
    open_store: Callable[[], AbstractContextManager],
    force: bool = False,
    jobs: int = 1,
    note: Note = lambda t: None,
) -> PipelineReport:
    """Run the selected steps (and what they need) that changed; return what each step did.

    `open_store()` opens the store at `paths` for the run. Every run is recorded: a job (`kind:
    pipeline`) with a `pipeline.start` and a `pipeline` audit event naming the lock's digest,
    the environment snapshot and the git provenance. A run with nothing to do (every selected
    step up to date, no out to restore, no --force) is recorded as such (`no_op`, every step
    skipped) in one transaction, so a kill leaves its whole record or none of it.
    Raises UsageError/NotFoundError before anything runs for a bad pipeline; a failed step is
    reported (`PipelineReport.error()`), not raised; KeyboardInterrupt (Ctrl-C or SIGTERM) ends
    every running step, records the run as interrupted and propagates.
    """
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    with RunLock(paths.root, file.absolute()) as run_lock:
        asking_git = _Meanwhile(_provenance, file.absolute().parent)  # while the pipeline loads
        loaded = LoadedPipeline(file, targets, ObjectStore(paths.objects, paths.tmp), paths.cache)
        if not force and loaded.up_to_date():
            loaded.cache.save()  # the digests of files that left the racy window since the last run
            with open_store() as store:
                return _no_op(store, loaded, asking_git.result())
        with open_store() as store:
            run = _Run(store, loaded, force, jobs, note, asking_git)
            run.processes.held_fds = (run_lock.fd,)
            try:
                run.start()
                run.loop()
            except BaseException as exc:
                run.interrupted(exc)
                raise
            finally:
                loaded.cache.save()
                run.report.files_hashed = loaded.cache.hashed
                order = {name: i for i, name in enumerate(loaded.selected)}
                run.report.steps.sort(key=lambda s: order[s.name])
            run.finish()
    return run.report


def _no_op(store: Store, loaded: LoadedPipeline, provenance: Provenance) -> PipelineReport:
    """Record a run that found every selected step up to date, and return its report: the same
    job and events as a run whose every step was skipped, written in one transaction."""
    from mlops_cli.models.environment import snapshot
    from mlops_cli.store.jobs import record_started_and_finished

    env = snapshot(store.objects, store.paths.cache).to_dict()
    lock = loaded.lock.digest()
    report = PipelineReport(pipeline=str(loaded.spec.path), no_op=True, lock=lock, environment=env)
    report.steps = [StepReport(name, st.SKIPPED) for name in loaded.selected]
    report.files_hashed = loaded.cache.hashed
    report.job = _job_id()
    record_started_and_finished(
        store.conn,
        report.job,
        JOB_KIND,
        {**_start_details(loaded, env), "no_op": True},
        "succeeded",
        {**_finish_details(lock, report, []), "no_op": True},
        provenance,
    )
    return report


def _job_id() -> str:
    return f"pl-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _start_details(loaded: LoadedPipeline, env: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": str(loaded.spec.path),
        "steps": list(loaded.selected),
        "lock_before": loaded.lock.digest(),
        "environment": env,
    }


def _finish_details(lock: str, report: PipelineReport, blobs: list[str]) -> dict[str, Any]:
    return {
        "lock": lock,
        "results": {s.name: {"status": s.status, "outs": s.outs, **s.registered} for s in report.steps},
        "blobs": sorted(set(blobs)),
    }


def _provenance(folder: Path) -> Provenance:
    """Who runs this and from which commit (git runs in the pipeline's folder)."""
    from mlops_cli.audit.provenance import provenance

    return provenance(None, folder)


class _Meanwhile:
    """`fn(*args)` in a daemon thread, its result (or exception) at `result()`. Lighter than
    concurrent.futures, whose import (it imports logging) a no-op run would pay; a daemon, so
    a run that fails before asking for the result does not wait for git to exit."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        import threading

        self._outcome: tuple[bool, Any] | None = None

        def run() -> None:
            try:
                self._outcome = (True, fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._outcome = (False, exc)

        self._thread = threading.Thread(target=run, name="mlops-provenance", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        assert self._outcome is not None
        ok, value = self._outcome
        if not ok:
            raise value
        return value


class _Run:
    def __init__(
        self, store, loaded: LoadedPipeline, force: bool, jobs: int, note: Note, asking_git: _Meanwhile
    ) -> None:
        self.store, self.loaded, self.force, self.jobs, self.note = store, loaded, force, jobs, note
        self.asking_git = asking_git
        self.report = PipelineReport(pipeline=str(loaded.spec.path))
        self.processes = StepProcesses()
        self.pending = list(loaded.selected)
        self.running: dict[Future, tuple[str, Decision, float]] = {}
        self.blobs: list[str] = []  # every blob the run's outs hold: named in the job, kept by gc
        self.stopped: list[str] = []

    # -- recording ------------------------------------------------------------------------
    def start(self) -> None:
        from mlops_cli.models.environment import snapshot
        from mlops_cli.store.jobs import create_job

        self.report.environment = snapshot(self.store.objects, self.store.paths.cache).to_dict()
        job_id = _job_id()
        details = _start_details(self.loaded, self.report.environment)
        self.provenance = self.asking_git.result()  # once per run: every event has the same
        # Named before the row is written: an interrupt that lands after the commit but before
        # create_job returns must still find the job and record it as interrupted.
        self.report.job = job_id
        self.logs = self.store.paths.jobs / job_id
        create_job(self.store.conn, job_id, JOB_KIND, None, None, details, self.provenance)

    def _details(self) -> dict[str, Any]:
        return _finish_details(self.loaded.lock.digest(), self.report, self.blobs)

    def finish(self) -> None:
        from mlops_cli.store.jobs import finish_job

        self.report.lock = self.loaded.lock.digest()
        status = "failed" if self.report.failed else "succeeded"
        finish_job(self.store.conn, self.report.job, status, self._details(), self.provenance)

    def interrupted(self, exc: BaseException) -> None:
        """Stop every step process, mark what did not finish, record the run as interrupted
        (or failed, for an error of mlops itself such as an unwritable store)."""
        stopped = self.stopped + self.processes.stop_all()
        for name in stopped:
            self.report.steps.append(StepReport(name, st.INTERRUPTED, ["the run was interrupted"]))
        for name in self.pending:
            self.report.steps.append(StepReport(name, st.NOT_RUN, ["the run was interrupted"]))
        if self.report.job is None:
            return
        from mlops_cli.store.jobs import finish_job

        try:  # a job whose row was never committed (interrupted inside create_job) has none
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            finish_job(self.store.conn, self.report.job, status, self._details(), self.provenance)
        except Exception:  # noqa: BLE001 - the interruption is what gets reported
            pass

    # -- scheduling ----------------------------------------------------------------------
    def loop(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mlops-step") as pool:
            try:
                while self.pending or self.running:
                    self._start_ready(pool)
                    if not self.running:
                        continue  # pending steps whose upstream failed are marked next round
                    done, _ = wait(list(self.running), timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        name, decision, started = self.running.pop(future)
                        self._finished(name, decision, started, future.result())
            except BaseException:
                # Before the pool's exit waits for its threads: they wait for these processes.
                self.stopped = self.processes.stop_all()
                raise

    def _state(self, name: str) -> str | None:
        found = [s.status for s in self.report.steps if s.name == name]
        return found[0] if found else None

    def _start_ready(self, pool: ThreadPoolExecutor) -> None:
        for name in list(self.pending):
            if len(self.running) >= self.jobs:
                return
            ups = [u for u in self.loaded.graph.upstream[name] if u in self.loaded.selected]
            states = [self._state(u) for u in ups]
            if any(s in (st.FAILED, st.NOT_RUN) for s in states):
                self.pending.remove(name)
                failed = [u for u, s in zip(ups, states, strict=True) if s in (st.FAILED, st.NOT_RUN)]
                self.report.steps.append(StepReport(name, st.NOT_RUN, [f"upstream step {failed[0]} failed"]))
                continue
            if any(s is None for s in states):
                continue  # an upstream step is still pending or running
            self.pending.remove(name)
            self._decide_and_start(pool, name)

    def _decide_and_start(self, pool: ThreadPoolExecutor, name: str) -> None:
        step = self.loaded.spec.steps[name]
        try:
            decision = self.loaded.decide(name, self.force, [])
            if decision.restore:
                for out in self.loaded.lock.entries[name].outs:
                    restore_out(self.store.objects, self.loaded.root, out, self.loaded.cache)
                self.report.steps.append(StepReport(name, st.RESTORED, decision.reasons))
                self.note(f"{name}: outs restored from the store ({'; '.join(decision.reasons)})")
                return
            if not decision.reasons:
                self.report.steps.append(StepReport(name, st.SKIPPED))
                self.note(f"{name}: up to date")
                return
            missing = [d for d in step.deps if d not in decision.inputs.deps]
            if missing:
                raise MlopsError(f"dep {missing[0]} does not exist")
            remove_outs(self.loaded.root, step.outs)
        except (MlopsError, OSError) as exc:  # an unreadable dep, an out that cannot be removed
            self.report.steps.append(StepReport(name, st.FAILED, error=_message(exc)))
            return
        self.note(f"{name}: running ({'; '.join(decision.reasons)})")
        log = self.logs / f"{name}.log"
        future = pool.submit(self.processes.run, name, step.cmd, self.loaded.root, log)
        self.running[future] = (name, decision, time.monotonic())

    def _upstream_inputs(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """The deps every step upstream of `name` last succeeded with (from the lock): the data
        a registered model was made from, however many steps back."""
        graph, entries = self.loaded.graph, self.loaded.lock.entries
        found: dict[str, list[dict[str, Any]]] = {}
        stack = list(graph.upstream[name])
        while stack:
            step = stack.pop()
            if step in found or step not in entries:
                continue
            found[step] = [d.to_yaml() for d in entries[step].deps]
            stack.extend(graph.upstream[step])
        return dict(sorted(found.items()))

    # -- after a step --------------------------------------------------------------------
    def _finished(self, name: str, decision: Decision, started: float, code: int) -> None:
        log = self.logs / f"{name}.log"
        result = StepReport(
            name, st.RAN, decision.reasons, round(time.monotonic() - started, 3), code, log=str(log)
        )
        self.report.steps.append(result)
        try:
            if code != 0:
                raise MlopsError(f"exit code {code}" if code > 0 else f"killed by signal {-code}")
            self._record(name, decision, result)
            self.note(f"{name}: done in {result.seconds:.2f} s")
        except (MlopsError, OSError) as exc:
            result.status, result.error = st.FAILED, _message(exc)
            result.check_failed = isinstance(exc, CheckFailedError)
            result.log_tail = log_tail(log)
            self.note(f"{name}: failed ({exc.message})")

    def _record(self, name: str, decision: Decision, result: StepReport) -> None:
        loaded, step = self.loaded, self.loaded.spec.steps[name]
        root = loaded.root
        for dep, before in decision.inputs.signatures.items():
            if loaded.cache.stat_signature(root / dep) != before:
                now = loaded.cache.digest(root / dep)
                if now is None or now.digest != decision.inputs.deps[dep].digest:
                    raise MlopsError(
                        f"dep {dep} changed while the step ran; its outputs are not recorded as made from it"
                    )
        outs = []
        for out in step.outs:
            found = loaded.cache.digest(root / out)
            if found is None:
                raise MlopsError(f"out {out} does not exist after the step ran (not written, or deleted)")
            self.blobs += store_out(self.store.objects, root, out, found)
            outs.append(LockedPath(out, found.digest, found.size, found.nfiles))
        entry = LockEntry(step.cmd, decision.inputs.locked_deps(), decision.inputs.params, tuple(outs))
        result.outs = [o.to_yaml() for o in outs]
        if step.register is not None:
            from mlops_cli.pipeline.actions import after_step

            lineage = {
                "job": self.report.job,
                "step": name,
                "pipeline": str(loaded.spec.path),
                "lock": loaded.lock.digest_with(name, entry),
                "inputs": [d.to_yaml() for d in entry.deps],
                "upstream": self._upstream_inputs(name),
                "params": entry.params,
                "environment": (self.report.environment or {}).get("digest"),
            }
            result.registered = after_step(self.store, step, root, lineage)
        loaded.lock.record(name, entry)  # last: a step whose registration failed did not succeed


def _message(exc: Exception) -> str:
    if isinstance(exc, MlopsError):
        return exc.message
    return f"{exc.strerror or exc}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
