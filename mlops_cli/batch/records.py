"""score-batch's job records: finding the job to resume, abandoning one, its recorded request.

Shared by every engine: a Spark job is recorded like a local one (kind `score-batch`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_cli import storage
from mlops_cli.audit.provenance import provenance
from mlops_cli.batch.checkpoint import JobFolder
from mlops_cli.batch.request import ScoreRequest
from mlops_cli.domain import Job, Provenance
from mlops_cli.errors import MissingDependencyError, MlopsError, NotFoundError, Terminated, UsageError
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store

KIND = "score-batch"
UNFINISHED = job_store.UNFINISHED


def require(*modules: str) -> None:
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, "batch")


def unfinished_job(store: Store, job_id: str) -> Job:
    job = job_store.get_job(store.conn, job_id)
    if job.kind != KIND:
        raise UsageError(f"job {job_id} is a {job.kind} job, not {KIND}")
    if job.status == "completed":
        raise UsageError(
            f"job {job_id} has already completed", hint=f"its output is {job.details.get('output')}"
        )
    if job.status == "abandoned":
        raise UsageError(f"job {job_id} was abandoned ({job.details.get('error')})", hint="start a new run")
    return job


def matching_job(store: Store, key: str) -> Job | None:
    for job in job_store.list_jobs(store.conn, KIND, limit=200):
        if job.details.get("plan_key") == key and job.status in UNFINISHED:
            return job
    return None


def jobs_for_output(store: Store, output: str) -> list[Job]:
    return [
        job
        for job in job_store.list_jobs(store.conn, KIND, limit=200)
        if job.status in UNFINISHED and job.details.get("output") == output
    ]


def abandon(store: Store, job: Job, reason: str, request: ScoreRequest) -> bool:
    """Mark a job that can never be resumed `abandoned` and remove its folder (parts, plan, lock).

    A job whose lock a live process holds is left alone; returns whether it was abandoned.
    """
    folder = JobFolder(store.paths.jobs / job.id)
    if not folder.try_lock():
        return False
    try:
        job_store.finish_job(
            store.conn, job.id, "abandoned", {"error": f"abandoned: {reason}"}, provenance(request.message)
        )
    finally:
        folder.unlock()
    folder.remove()
    return True


def request_from_details(data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    fields["output"] = storage.location(fields["output"])
    fields["errors_output"] = Path(fields["errors_output"]) if fields.get("errors_output") else None
    for name in ("inputs", "features", "passthrough", "shard"):
        fields[name] = tuple(fields.get(name) or ())
    return fields


@contextmanager
def failure_recorded(store: Store, job_id: str, prov: Provenance) -> Iterator[None]:
    """A job whose run raises is marked `interrupted` (Ctrl-C, SIGTERM: resumable) or `failed`
    with the reason, whatever the engine; the exception goes on.

    The job's row is written inside the block (`create_job` is its first statement): an
    interrupt that lands after the row's commit but before the call returns still finds the job
    and marks it. One that lands before the commit leaves no row, and nothing to mark.
    """
    try:
        yield
    except KeyboardInterrupt as exc:
        reason = "terminated" if isinstance(exc, Terminated) else "interrupted"
        _finish(store, job_id, "interrupted", reason, prov)
        raise
    except MlopsError as exc:
        _finish(store, job_id, "failed", exc.message, prov)
        raise
    except BaseException as exc:
        _finish(store, job_id, "failed", f"{type(exc).__name__}: {exc}", prov)
        raise


def _finish(store: Store, job_id: str, status: str, reason: str, prov: Provenance) -> None:
    try:
        job_store.finish_job(store.conn, job_id, status, {"error": reason}, prov)
    except NotFoundError:  # interrupted before its row was committed: there is nothing to mark
        pass
