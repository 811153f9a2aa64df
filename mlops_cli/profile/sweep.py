"""A whole profile: check the request, measure every point, recommend, confirm, store.

Modes: `inprocess` (the runtime layer in this process, as score-batch sees the model) and
`http` (a real `mlops serve` process, or with `in_container` the packaged image under Docker
at each `--cpus` limit: the deployment's own condition). The recommendation is sized from the
HTTP points (the container ones when measured), else from the in-process ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import CheckFailedError
from mlops_cli.profile import passes
from mlops_cli.profile import providers as sweep_providers
from mlops_cli.profile.points import measured, point_figures
from mlops_cli.profile.recommend import NoConfiguration, qualifies, recommend
from mlops_cli.profile.request import ProfileRequest, plan

if TYPE_CHECKING:  # the command imports this module for its options: keep asyncio and the store out
    from mlops_cli.profile.data import ProfileData
    from mlops_cli.store import Store

CONFIRM_RATE = 0.95  # paced at the target, the confirmation must deliver this share of it
CLIENT_LIMITED = 0.8  # a point at this share of the client's own ceiling is limited by the client


class Progress:
    """Callbacks the command gives: one `advance(description)` per point measured."""

    def __init__(
        self, advance: Callable[[str], None] | None = None, note: Callable[[str], None] | None = None
    ):
        self.advance = advance or (lambda description: None)
        self.note = note or (lambda text: None)


def measure_inprocess(
    resolved: Any, data: ProfileData, request: ProfileRequest, progress: Progress, first_index: int
) -> list[dict[str, Any]]:
    """Every in-process point: sessions with `threads` intra-op threads, called from N threads.
    One session at a time (its points' passes run while it lives), so a point's peak RSS holds
    the one session it ran on, as a deployment's process would."""
    from mlops_cli.profile.inprocess import run_calls
    from mlops_cli.profile.processes import TreeMonitor
    from mlops_cli.runtime.predictor import Predictor
    from mlops_cli.runtime.session import SessionConfig, clear_session_cache

    def cell(predictor: Any, threads: int, batch: int, concurrency: int) -> passes.Cell:
        feeds = data.batch(batch)

        def run(seconds: float) -> Any:
            return run_calls(predictor, feeds, concurrency, seconds)

        def figures(runs: list, tail: list[float], peak_rss: int) -> dict[str, Any]:
            return point_figures("inprocess", batch, threads, 1, concurrency, None, runs, peak_rss, tail=tail)

        describe = f"in-process: {threads} thread(s), batch {batch}, {concurrency} caller(s)"
        return passes.Cell(describe, run, run, figures)

    points: list[dict[str, Any]] = []
    monitor = TreeMonitor(os.getpid(), tree=False)
    try:
        for threads in request.threads:
            predictor = Predictor.from_path(
                resolved.model_path,
                signature=resolved.signature,
                config=SessionConfig(intra_op_threads=threads, providers=request.providers),
                digest=resolved.model_digest,
            )
            cells = [
                cell(predictor, threads, batch, concurrency)
                for batch in request.batch_sizes
                for concurrency in request.concurrency
            ]
            points += passes.measure(
                cells, request, monitor, progress.advance, first_index + len(points), passes.visits(request)
            )
            del predictor, cells
            clear_session_cache()
    finally:
        monitor.close()
    return points


def measure_server(
    server: Any,
    model_name: str,
    data: ProfileData,
    request: ProfileRequest,
    workers: int,
    progress: Progress,
    first_index: int,
    batch_sizes: tuple[int, ...] | None = None,
    concurrencies: tuple[int, ...] | None = None,
    rows_rate: float | None = None,
    duration: float | None = None,
) -> list[dict[str, Any]]:
    """Every HTTP point against one running server: requests of each batch size (v2 infer, or
    `/score` for an entry script's run()).

    Closed loop (as fast as the server answers), or paced at `rows_rate` rows/s when given.
    """
    from mlops_cli.profile.loadgen import request_bytes, run_load
    from mlops_cli.profile.processes import TreeMonitor

    where = "container" if server.cpu_limit is not None else "mlops serve"
    limit = f" at {server.cpu_limit:g} CPU" if server.cpu_limit is not None else ""

    def cell(batch: int, concurrency: int) -> passes.Cell:
        path, body = data.http_request(model_name, batch)
        payload = request_bytes("127.0.0.1", server.port, path, body)
        rate = rows_rate / batch if rows_rate else None

        def run(seconds: float) -> Any:
            return run_load("127.0.0.1", server.port, payload, concurrency, seconds, True, rate)

        def warm(seconds: float) -> Any:
            return run_load("127.0.0.1", server.port, payload, concurrency, seconds, False, rate)

        def figures(runs: list, tail: list[float], peak_rss: int) -> dict[str, Any]:
            return point_figures(
                "http", batch, 1, workers, concurrency, server.cpu_limit, runs, peak_rss, tail=tail
            )

        describe = f"{where}{limit}: {workers} worker(s), batch {batch}, {concurrency} connection(s)"
        # A paced run is the confirmation: its window is its definition, no extra latencies.
        return passes.Cell(describe, run, warm, figures, top_up=rate is None)

    cells = [
        cell(batch, concurrency)
        for batch in batch_sizes or request.batch_sizes
        for concurrency in concurrencies or request.concurrency
    ]
    visits = passes.visits(request, paced=rows_rate is not None)
    monitor = TreeMonitor(server.pid)
    try:
        return passes.measure(
            cells, replace(request, duration=duration or request.duration), monitor, progress.advance,
            first_index, visits,
        )  # fmt: skip
    finally:
        monitor.close()


def _image_for(store: Store, version: Any, request: ProfileRequest, progress: Progress) -> str:
    """The newest image recorded for the version that the engine still has, else a new build."""
    from mlops_cli.domain import ModelRef
    from mlops_cli.packaging import image as packaging
    from mlops_cli.store import jobs
    from mlops_cli.targets import docker

    for artifact in reversed(jobs.list_artifacts(store.conn, ModelRef.parse(version.ref), "image")):
        if docker.image_exists(artifact.digest or artifact.ref):
            return artifact.digest or artifact.ref
    progress.note(
        f"{version.ref} has no image yet: building one with `mlops package` (base {request.base_image})"
    )
    built = packaging.package(
        store, version.ref, base_image=request.base_image, message="built by mlops profile --in-container"
    )
    return built.image_id or built.image


def run_profile(store: Store, request: ProfileRequest, progress: Progress | None = None) -> dict[str, Any]:
    """Measure, recommend and store a profile of an ONNX version, or of an Azure-form entry
    script over HTTP (`/score`); returns the stored record.

    Raises UsageError (bad settings, a non-ONNX version), InputError (a data file that does not
    fit the model), ExternalToolError (no Docker engine for --in-container), CheckFailedError
    (exit 5: no configuration meets the targets, or the recommendation failed confirmation;
    `report` holds the whole result with the best point found). Nothing is stored on failure.
    """
    from mlops_cli.models.manage import show_version
    from mlops_cli.profile import data as profile_data
    from mlops_cli.profile.loadgen import measure_ceiling
    from mlops_cli.profile.processes import _psutil
    from mlops_cli.profile.script_data import build_environment, over_http, script_rows
    from mlops_cli.runtime.loader import onnx_entry, resolve_onnx
    from mlops_cli.runtime.mapping import schema_from_signature

    progress = progress or Progress()
    request.check()
    version = show_version(store, request.ref)
    if version.runs_own_model:
        request = over_http(request, version.ref)
    else:
        onnx_entry(version)
    _psutil()
    if "http" in request.modes:
        from mlops_cli.serving.launch import check_serving_dependencies

        check_serving_dependencies()
    if request.in_container:
        from mlops_cli.targets import docker

        docker.client(timeout=60)
    if version.runs_own_model:
        data: Any = script_rows(store, version, request.data)
        build_environment(store, version, progress.note)
        skipped: list[dict] = []  # the script loads its own model: onnxruntime providers do not apply
    else:
        resolved = resolve_onnx(store, version.ref)
        schema = schema_from_signature(resolved.signature)
        if request.data is not None:
            data = profile_data.from_file(schema, request.data)
        else:
            data = profile_data.synthesise(schema, request.rows)
        data.check_batch_sizes(request.batch_sizes)
        measured_providers, skipped = sweep_providers.measurable(request.providers, resolved.model_path, data)
        request = replace(request, providers=tuple(measured_providers))
    image = _image_for(store, version, request, progress) if request.in_container else None
    work = plan(request)
    started = time.monotonic()
    points: list[dict[str, Any]] = []
    if work.inprocess:
        points += sweep_providers.measure_each(
            request, len(points), lambda one, first: measure_inprocess(resolved, data, one, progress, first)
        )
    ceiling: dict[str, float] = {}
    if work.http:
        ceiling = {
            str(c): v
            for c, v in measure_ceiling(
                list(request.concurrency), min(request.duration, 0.5), min(request.warmup, 0.1)
            ).items()
        }
        points += sweep_providers.measure_each(
            request,
            len(points),
            lambda one, first: _measure_http(store, version, image, data, one, progress, first),
        )
        for point in points:
            if point["mode"] == "http" and point["requests_per_s"] is not None:
                limit = ceiling.get(str(point["concurrency"]))
                point["client_limited"] = bool(limit and point["requests_per_s"] >= CLIENT_LIMITED * limit)
    basis = "http" if work.http else "inprocess"
    basis_points = [p for p in points if p["mode"] == basis]
    result: dict[str, Any] = {
        "ref": version.ref,
        "digest": version.digest,
        "data": {"source": data.source, "rows": data.rows},
        "settings": _settings(request, image),
        "machine": {"cpu_count": os.cpu_count(), "load_average": list(os.getloadavg())},
        "client_ceiling_requests_per_s": ceiling,
        "targets": {"p99_ms": request.target_p99_ms, "rows_per_s": request.target_rps},
        "basis": "container" if request.in_container else basis,
        "points": points,
        "recommendation": None,
        "confirmation": None,
        "best": None,
        "duration_s": None,
    }
    _refuse_too_few_samples(basis_points, result, started)
    try:
        chosen = recommend(
            [measured(p) for p in basis_points], request.target_p99_ms, request.target_rps, request.headroom
        )
    except NoConfiguration as missing:
        result["best"] = points[missing.best.index] if missing.best is not None else None
        result["duration_s"] = round(time.monotonic() - started, 2)
        errors = [p["first_error"] for p in basis_points if p["first_error"]]
        if missing.best is None and errors:
            raise CheckFailedError(f"{missing.reason}: first error {errors[0]}", report=result) from None
        raise CheckFailedError(
            missing.reason, hint="the best configuration found is in the report", report=result
        ) from None
    provider = points[chosen.point]["provider"]
    result["providers"] = sweep_providers.report(basis_points, request, skipped, provider)
    confirmed: bool | None = None
    if request.in_container:
        on_chosen = replace(request, providers=(provider,))
        confirmation = _confirm(chosen, points[chosen.point], image, data, version, on_chosen, progress)
        result["confirmation"] = confirmation
        confirmed = confirmation["confirmed"]
    result["recommendation"] = {**chosen.to_dict(confirmed), "providers": provider}
    result["duration_s"] = round(time.monotonic() - started, 2)
    _store(store, version, result, request.message)
    return result


MIN_SAMPLES = 5  # requests per point, below which no latency or throughput figure means anything


def _refuse_too_few_samples(points: list[dict[str, Any]], result: dict[str, Any], started: float) -> None:
    """CheckFailedError (exit 5, nothing stored) when a point is too short to size anything: a
    handful of requests, or so little CPU time that the process accounting shows none (which
    would recommend "inf rows per CPU-second")."""
    # A point whose calls failed is reported by recommend() with the model's error instead.
    short = [p for p in points if not p["first_error"] and (p["requests"] < MIN_SAMPLES or not p["cpu_used"])]
    if not short:
        return
    result["duration_s"] = round(time.monotonic() - started, 2)
    point = short[0]
    raise CheckFailedError(
        f"too few samples to recommend anything: point {point['index']} ({point['mode']}, batch"
        f" {point['batch_size']}, concurrency {point['concurrency']}) made {point['requests']}"
        f" request(s) using {point['cpu_used'] or 0:g} measured CPU"
        + (f" (and {len(short) - 1} more points like it)" if len(short) > 1 else ""),
        hint=f"measure longer: --duration of a second or more (at least {MIN_SAMPLES} requests a point)",
        report=result,
    )


def _measure_http(
    store: Store,
    version: Any,
    image: str | None,
    data: ProfileData,
    request: ProfileRequest,
    progress: Progress,
    first_index: int,
) -> list[dict[str, Any]]:
    from mlops_cli.profile.servers import ContainerServer, LocalServer

    points: list[dict[str, Any]] = []
    limits: tuple[float | None, ...] = request.cpu_limits if request.in_container else (None,)
    for cpus in limits:
        for workers in request.workers:
            if image is not None:
                server: Any = ContainerServer(image, workers, cpus, providers=request.providers)
            else:
                server = LocalServer(
                    store.paths.root, version.ref, workers, store.paths.tmp, providers=request.providers
                )
            try:
                points += measure_server(
                    server, version.name, data, request, workers, progress, first_index + len(points)
                )
            finally:
                server.close()
    return points


def _confirm(
    chosen: Any,
    point: dict[str, Any],
    image: str | None,
    data: ProfileData,
    version: Any,
    request: ProfileRequest,
    progress: Progress,
) -> dict[str, Any]:
    """Re-measure the recommended limits in a fresh container: do they meet the targets?

    The load is paced at the target throughput (or, without one, at the rate the chosen point
    reached), as a deployment sized for it would receive: confirmed when every request is
    answered, the container is not killed for memory, p99 is within the target and at least
    95 % of the paced rate was delivered.
    """
    from mlops_cli.errors import ExternalToolError
    from mlops_cli.profile.servers import ContainerServer

    rate = request.target_rps or point["rows_per_s"] or 0.0
    rows_target = rate * CONFIRM_RATE
    progress.note(f"confirming {chosen.cpu:g} CPU and {chosen.memory_bytes >> 20} Mi in a fresh container")
    outcome: dict[str, Any] = {
        "cpu": chosen.cpu,
        "memory_bytes": chosen.memory_bytes,
        "paced_rows_per_s": round(rate, 2),
        "targets": {"p99_ms": request.target_p99_ms, "rows_per_s": round(rows_target, 2)},
        "point": None,
        "oom_killed": False,
        "confirmed": False,
        "error": None,
    }
    try:
        server = ContainerServer(
            image or "", chosen.workers, chosen.cpu, chosen.memory_bytes, providers=request.providers
        )
    except ExternalToolError as exc:
        outcome["error"] = exc.message
        return outcome
    try:
        again = measure_server(
            server,
            version.name,
            data,
            request,
            chosen.workers,
            progress,
            -1,
            batch_sizes=(chosen.max_batch_size,),
            concurrencies=(chosen.concurrency,),
            rows_rate=rate,
            duration=_confirm_duration(request.duration, rate / chosen.max_batch_size if rate else 0.0),
        )[0]
        outcome["oom_killed"] = server.oom_killed()
    finally:
        server.close()
    again["mode"] = "confirmation"
    again["memory_limit"] = chosen.memory_bytes
    outcome["point"] = again
    outcome["confirmed"] = not outcome["oom_killed"] and qualifies(
        measured(again), request.target_p99_ms, rows_target
    )
    return outcome


def _confirm_duration(duration: float, requests_per_s: float) -> float:
    """Long enough for 100 paced requests (a p99 from fewer is one sample), within 2-10 s."""
    wanted = 100 / requests_per_s if requests_per_s > 0 else duration
    return min(10.0, max(duration, 2.0, wanted))


def _settings(request: ProfileRequest, image: str | None) -> dict[str, Any]:
    settings = asdict(request)
    settings.pop("message")
    settings["data"] = str(request.data) if request.data else None
    settings["image"] = image
    settings["cpus"] = list(request.cpu_limits) if request.in_container else None
    settings["passes"] = passes.visits(request)  # visits per point, each a slice of its window
    if not request.in_container:
        settings["base_image"] = None
    return settings


def _store(store: Store, version: Any, result: dict[str, Any], message: str | None) -> None:
    """One `artifacts` row (kind `profile`) and its `profile` audit event, in one transaction."""
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.domain import ModelRef
    from mlops_cli.store import jobs

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    jobs.add_artifact(
        store.conn,
        ModelRef.parse(version.ref),
        "profile",
        f"profile-{stamp}",
        None,
        result,
        provenance(message),
    )
