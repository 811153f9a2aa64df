"""`mlops serve REF`: score a registered ONNX model over HTTP on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import LazyModule, fetch_from_remote, store_for
from mlops_cli.cli.options import EnvManagerOpt, JsonOpt, ModelRefsArg, ProvidersOpt, StoreOpt
from mlops_cli.cli.output import Output
from mlops_cli.serving.config import ServeConfig, exposure_warning

served = LazyModule("mlops_cli.packaging.served")
runtime_providers = LazyModule("mlops_cli.runtime.providers")


def serve(
    refs: ModelRefsArg,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(
            help="Require 'Authorization: Bearer <key>' where the key is this environment variable's value.",
            metavar="VAR",
        ),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body accepted (413 above).")] = 10.0,
    collect: Annotated[
        Optional[Path],
        typer.Option(
            help="Write every request's inputs and outputs to rotating Parquet files here.", metavar="DIR"
        ),
    ] = None,
    batch_max_size: Annotated[
        int, typer.Option(help="Micro-batch concurrent requests up to this many rows (0: off).", metavar="N")
    ] = 0,
    batch_max_latency_ms: Annotated[
        float, typer.Option(help="Longest wait for a micro-batch to fill, under load.", metavar="M")
    ] = 2.0,
    env_manager: EnvManagerOpt = "virtualenv",
    providers: ProvidersOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Serve a model: Open Inference Protocol v2 (KServe/Triton), MLflow-style /invocations, /metrics.

    Runs until Ctrl-C or SIGTERM, then finishes in-flight requests and flushes collected data.
    With --json, a JSON object describing the server is printed on stdout before it starts.

    A version registered with an entry script and an environment runs in that environment,
    built once from its pinned set and cached under .mlops/envs/ (--env-manager local: in this
    Python instead).

    Several REFs serve several versions in one server, each under /v2/models/NAME[/versions/N]
    (/invocations and /score only when there is one).

    Example: mlops serve churn@production --port 8080 --collect requests/

    Example: mlops serve churn:3 churn:4 fraud@production
    """
    output = Output(json)
    exposed = exposure_warning(host, api_key_env)
    if exposed:
        output.warn(exposed)
    choice = runtime_providers.resolve(providers)
    config = ServeConfig(
        bundle="",
        host=host,
        port=port,
        workers=workers,
        api_key_env=api_key_env,
        max_body_mb=max_body_mb,
        collect_dir=str(collect) if collect else None,
        batch_max_size=batch_max_size,
        batch_max_latency_ms=batch_max_latency_ms,
        providers=choice.providers,
    )
    with store_for(store) as opened:
        for ref in refs:
            fetch_from_remote(output, opened, ref)
        server = served.prepare(opened, refs[0], config, env_manager, output.note, tuple(refs[1:]))
    if providers is not None:  # the CPU by default is no news; a choice from a list is
        output.note(choice.note())
    output.result(
        {
            "ref": server.version.ref,
            "digest": server.version.digest,
            "url": server.url,
            "bundle": str(server.bundle),
            "environment": server.environment.to_dict() if server.environment else None,
            "models": [v.ref for v in (server.version, *server.others)],
            "providers": choice.to_dict(),
        },
        f"Serving {', '.join(v.ref for v in (server.version, *server.others))} on {server.url}"
        f" (try {server.url}/v2/models/{server.version.name})",
    )
    served.run(server)
