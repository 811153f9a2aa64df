"""`python -m mlops_cli.serving --model-dir DIR`: the server as the Docker image runs it.

Argument parsing only (argparse, no typer): the image has no CLI dependencies. The port
defaults to $PORT, then 8080, as Cloud Run and Heroku-style platforms expect.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlops_cli.serving.config import METRICS_DIR_ENV, ServeConfig
from mlops_cli.serving.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_cli.serving", description=__doc__)
    parser.add_argument("--model-dir", default=os.environ.get("MLOPS_MODEL_DIR", "/model"))
    parser.add_argument(
        "--more-model-dir", action="append", default=[], metavar="DIR", help="another model, served beside"
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8080))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 1))
    parser.add_argument("--api-key-env", default=None)
    parser.add_argument("--max-body-mb", type=float, default=10.0)
    parser.add_argument("--collect", default=None, metavar="DIR")
    parser.add_argument(  # an environment variable from the targets: an older image ignores it
        "--metrics-dir",
        default=os.environ.get(METRICS_DIR_ENV) or None,
        metavar="DIR",
        help="where the workers of one server share /metrics",
    )
    parser.add_argument("--batch-max-size", type=int, default=0)
    parser.add_argument("--batch-max-latency-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per worker")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--control", default=None, metavar="PATH", help="switchable mode: the control unix socket"
    )
    parser.add_argument(
        "--gate", default=None, metavar="PATH", help="switchable mode: the private gate socket"
    )
    parser.add_argument("--drain-seconds", type=float, default=3.0)
    parser.add_argument(
        "--providers",
        default=os.environ.get("MLOPS_PROVIDERS"),
        help="execution providers in order of preference, e.g. cuda,cpu (default: cpu)",
    )
    args = parser.parse_args(argv)
    config = ServeConfig(
        bundle=args.model_dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        api_key_env=args.api_key_env,
        max_body_mb=args.max_body_mb,
        collect_dir=args.collect,
        metrics_dir=args.metrics_dir,
        batch_max_size=args.batch_max_size,
        batch_max_latency_ms=args.batch_max_latency_ms,
        log_level=args.log_level,
        more_bundles=list(args.more_model_dir),
        intra_op_threads=args.threads,
        providers=_providers(args.providers),
    )
    if args.control:
        from mlops_cli.serving.handoff import HandoffServer

        HandoffServer(config, args.control, args.gate, args.drain_seconds).run()
    else:
        serve(config)


def _providers(text: str | None) -> tuple[str, ...]:
    from mlops_cli.errors import MlopsError
    from mlops_cli.runtime.providers import resolve

    try:
        choice = resolve(text)
    except MlopsError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        sys.exit(f"error: {exc.message}{hint}")
    print(choice.note(), file=sys.stderr)  # noqa: T201 - the image has no CLI output layer
    return choice.providers


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C after the graceful stop: the conventional status, no traceback
        sys.exit(130)
