"""`python -m mlops_cli.batch.engines.shard`: one shard of a score-batch run, without a store.

What each pod of `score-batch --target kubernetes` runs (the Indexed Job passes
`--shard $(JOB_COMPLETION_INDEX)/N`), and what anyone can run by hand on a model bundle (the
`model/` folder `mlops package --no-build --output-dir DIR` writes). The scoring is the local
engine's (batch/run.py `score_into_parts`, the same chunks, shards and output bytes); the parts
live in a scratch folder and the output is published as one object (mlops_cli/storage/).
Argument parsing only (argparse): the image has no CLI dependencies. Errors: one `error:` line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlops_cli.batch.checkpoint import JobFolder
from mlops_cli.batch.inputs import resolve_inputs
from mlops_cli.batch.request import ScoreRequest, parse_columns, parse_shard
from mlops_cli.batch.run import check_error_rate, check_inputs, score_into_parts
from mlops_cli.batch.worker import part_path
from mlops_cli.batch.writers import check_output, write_output
from mlops_cli.domain import NoProgress
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.runtime.loader import ResolvedModel
from mlops_cli.runtime.mapping import schema_from_signature
from mlops_cli.storage import location


def model_from_bundle(folder: Path) -> ResolvedModel:
    """A bundle folder (mlops-serving.json beside the files) as the model the scorer takes."""
    from mlops_cli.serving.bundle import read_bundle

    try:
        bundle = read_bundle(folder)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return ResolvedModel(
        ref=f"{bundle.name}:{bundle.version}",
        digest=bundle.digest,
        model_digest=f"{bundle.digest}/{bundle.model_file}",
        model_path=bundle.model_path,
        root=bundle.root,
        signature=bundle.signature,
    )


def score_shard(model: ResolvedModel, request: ScoreRequest, scratch: Path) -> dict[str, Any]:
    """Score this shard of the inputs and publish its output; returns what the job records."""
    request.validate()
    started = time.monotonic()
    files = resolve_inputs(request.inputs)
    output, fmt = request.output_target()
    schema = schema_from_signature(model.signature, request.features or None)
    check_inputs(files, schema, request, output, None)
    check_output(output, "--output")
    folder = JobFolder(scratch / "job")
    folder.create({})
    counts = score_into_parts(folder, model, schema, files, request, NoProgress())
    check_error_rate(folder, counts, request)
    parts = [part_path(folder.parts, k) for k in counts["chunks"]]
    rows, digest, size = write_output(parts, output, fmt, folder.root)
    return {
        "model": model.ref,
        "shard": f"{request.shard[0]}/{request.shard[1]}",
        "output": {"path": str(output), "format": fmt, "sha256": digest, "rows": rows, "size": size},
        "rows_read": counts["rows"],
        "rows_scored": counts["scored"],
        "rows_failed": counts["failed"],
        "duration_s": round(time.monotonic() - started, 3),
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops_cli.batch.engines.shard", description=__doc__)
    parser.add_argument("--model-dir", default="/model", help="the model bundle (mlops-serving.json)")
    parser.add_argument("--input", "-i", action="append", required=True)
    parser.add_argument("--output", "-o", required=True)
    parser.add_argument("--shard", default="0/1", help="I/N: score chunks k with k mod N == I")
    parser.add_argument("--output-format", default=None)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--features", default=None)
    parser.add_argument("--passthrough", default=None)
    parser.add_argument("--on-error", default="fail", choices=("fail", "skip"))
    parser.add_argument("--max-error-rate", type=float, default=None)
    parser.add_argument("--threads", type=int, default=0)
    return parser


def request_from(args: argparse.Namespace) -> ScoreRequest:
    return ScoreRequest(
        model="bundle",
        inputs=tuple(args.input),
        output=location(args.output),
        output_format=args.output_format,
        batch_size=args.batch_size,
        threads_per_worker=args.threads,
        features=parse_columns(args.features),
        passthrough=parse_columns(args.passthrough),
        on_error=args.on_error,
        max_error_rate=args.max_error_rate,
        shard=parse_shard(args.shard),
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        request = request_from(args)
        model = model_from_bundle(Path(args.model_dir))
        with tempfile.TemporaryDirectory(prefix="mlops-shard-") as scratch:
            result = score_shard(model, request, Path(scratch))
    except MlopsError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")
        return exc.exit_code
    except OSError as exc:  # a scratch folder that cannot be written, a file that vanished
        sys.stderr.write(f"error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
