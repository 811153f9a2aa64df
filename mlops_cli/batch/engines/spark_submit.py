"""The `spark-submit` entry point: `score-batch --engine spark` without a store, on a model bundle.

    spark-submit --master spark://HOST:7077 "$(python -m mlops_cli.batch.engines.spark_submit --path)" \\
        --model-dir DIR -i data/ -o scores.parquet --passthrough id

DIR is a model bundle (`mlops-serving.json` beside the files: `mlops package REF --no-build
--output-dir CTX` writes one in CTX/model). The master and every Spark setting come from
spark-submit; the job is the one `score-batch --engine spark` runs (engines/spark.py). Prints a
JSON summary; errors are one `error:` line and the exit codes of the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_cli.batch.engines.shard import model_from_bundle
from mlops_cli.batch.engines.spark import ModelFiles, SparkOptions, check_environment, run_job
from mlops_cli.batch.inputs import resolve_inputs
from mlops_cli.batch.request import ScoreRequest, parse_columns
from mlops_cli.batch.run import check_inputs
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.runtime.mapping import schema_from_signature


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spark-submit .../spark_submit.py", description=__doc__)
    parser.add_argument("--path", action="store_true", help="print this file's path (for spark-submit)")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--input", "-i", action="append", default=[])
    parser.add_argument("--output", "-o", default=None)
    parser.add_argument("--output-format", default=None)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--features", default=None)
    parser.add_argument("--passthrough", default=None)
    parser.add_argument("--on-error", default="fail", choices=("fail", "skip"))
    args = parser.parse_args(argv)
    if args.path:
        sys.stdout.write(__file__ + "\n")
        return 0
    try:
        if not (args.model_dir and args.input and args.output):
            raise UsageError("give --model-dir, --input and --output")
        request = ScoreRequest(
            model="bundle",
            inputs=tuple(args.input),
            output=Path(args.output),
            output_format=args.output_format,
            batch_size=args.batch_size,
            features=parse_columns(args.features),
            passthrough=parse_columns(args.passthrough),
            on_error=args.on_error,
        ).validate()
        options = SparkOptions()  # spark-submit has set the master and the configuration
        check_environment(options)
        model = model_from_bundle(Path(args.model_dir))
        files = resolve_inputs(request.inputs)
        output, fmt = request.output_target()
        schema = schema_from_signature(model.signature, request.features or None)
        check_inputs(files, schema, request, output, None)
        relative = str(model.model_path.relative_to(model.root))
        shipped = ModelFiles(model.ref, model.root, relative, model.model_digest, model.signature)
        counts = run_job(options, shipped, schema, request, files, Path(output), fmt)
    except MlopsError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")
        return exc.exit_code
    sys.stdout.write(json.dumps({"model": model.ref, "output": str(output), **counts}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
