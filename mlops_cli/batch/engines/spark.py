"""`score-batch --engine spark`: the same scoring as the local engine, as a PySpark job.

The driver checks what it can before a JVM starts (pyspark, Java, the master answering, the
inputs' columns against the model), then: the model's folder travels to executors with
`SparkContext.addArchive`, this package with `addPyFile` (executors need onnxruntime, pyarrow
and numpy, not mlops-cli), and `mapInArrow` scores each partition through batch/worker.py's
`score_table` (spark_tasks.py). The output is a folder of part files written under a temporary
name beside the target and renamed into place once Spark has committed every task: a reader
sees the old output or the whole new one. The job is recorded in the store like a local one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.batch.inputs import InputFile, csv_delimiter
from mlops_cli.batch.request import ScoreRequest
from mlops_cli.batch.worker import WorkerSpec
from mlops_cli.errors import ExternalToolError, MissingDependencyError, MlopsError, UsageError
from mlops_cli.runtime.mapping import InputError, ModelSchema

WRITERS = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}
MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://.+|yarn|k8s://.+|mesos://.+)$")
CONNECT_TIMEOUT = 5.0
# Spark's own defaults are kept: a web UI off, 1g file splits, 16k-row Parquet reader batches and
# a driver JVM without its C2 JIT were each measured side by side and none helped a 5M-row job
# (docs/concepts/benchmarks.md, "Engines' speed"); --spark-conf sets any of them.


class SparkJobError(ExternalToolError):
    """Spark could not run the job (exit 4): no Java, a master that does not answer, a failed stage."""


@dataclass(frozen=True)
class SparkOptions:
    master: str | None = None  # None: what spark-submit or the Spark defaults say
    conf: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"master": self.master, "conf": dict(self.conf)}


@dataclass(frozen=True)
class ModelFiles:
    """A model as the executors need it: a folder to ship, the ONNX file in it, its signature."""

    ref: str
    root: Path
    model_file: str  # relative to root
    model_digest: str
    signature: dict[str, Any]


def parse_options(master: str | None, conf: list[str] | None) -> SparkOptions:
    """--master and the repeated --spark-conf K=V, checked; UsageError names the bad one."""
    if master is not None and not MASTER.match(master):
        raise UsageError(
            f"--master {master!r} is not a Spark master URL",
            hint="local[N], spark://HOST:PORT, yarn or k8s://https://HOST:PORT",
        )
    pairs = []
    for item in conf or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip().startswith("spark."):
            raise UsageError(f"--spark-conf {item!r} is not KEY=VALUE with a spark.* key")
        pairs.append((key.strip(), value))
    return SparkOptions(master, tuple(pairs))


def check_environment(options: SparkOptions) -> None:
    """pyspark importable, a Java runtime present, a standalone master answering: before any JVM."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingDependencyError("pyspark", "spark") from None
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else None
    if not (java and java.exists()) and shutil.which("java") is None:
        raise SparkJobError(
            "Spark needs a Java runtime and none was found (no JAVA_HOME, no java on PATH)",
            hint="install one (Debian: apt-get install default-jre-headless) or set JAVA_HOME",
        )
    if options.master and options.master.startswith("spark://"):
        for host, port in _master_addresses(options.master):
            try:
                socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
                return
            except OSError as exc:
                reason = exc.strerror or str(exc)
        raise SparkJobError(
            f"cannot reach the Spark master {options.master}: {reason}",
            hint="is the master running? `spark-class org.apache.spark.deploy.master.Master` starts one",
        )


def _master_addresses(master: str) -> list[tuple[str, int]]:
    addresses = []
    for part in master.removeprefix("spark://").split(","):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--master {master!r}: expected spark://HOST:PORT")
        addresses.append((host, int(port)))
    return addresses


def spark_path(file: InputFile) -> str:
    """The input as Spark opens it (s3:// is Hadoop's s3a://, which needs hadoop-aws: without it
    spark_job.py hands Spark local copies instead)."""
    if file.url is None:
        return file.path.as_uri()
    return re.sub(r"^s3://", "s3a://", file.url)


def run_job(
    options: SparkOptions,
    model: ModelFiles,
    schema: ModelSchema,
    request: ScoreRequest,
    files: list[InputFile],
    output: Path,
    fmt: str,
) -> dict[str, int]:
    """Run the Spark job writing `output` (a folder, replaced as a whole); return the row counts."""
    from pyspark.sql import SparkSession

    formats = {f.format for f in files}
    if len(formats) != 1:
        raise UsageError("--engine spark reads inputs of one format per run", hint="score each format apart")
    temp = output.parent / f".{output.name}.mlops-spark-{secrets.token_hex(4)}"
    builder = SparkSession.builder.appName(f"mlops score-batch {model.ref}")
    if options.master:
        builder = builder.master(options.master)
    settings = {**_defaults(request), **dict(options.conf)}
    for key, value in settings.items():
        builder = builder.config(key, value)
    # PySpark starts executors' Python workers with PYSPARK_PYTHON (else `python3` on their
    # PATH), not with spark.pyspark.python: without it they could run another interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", settings["spark.pyspark.python"])
    code = Path(tempfile.mkdtemp(prefix="mlops-spark-"))
    try:
        spark = _session(builder)
        try:
            counts = _score(spark, model, schema, request, files, formats.pop(), code, temp, fmt)
        except MlopsError:
            raise
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError / PythonException carry the cause
            raise _job_error(exc) from exc
        finally:
            spark.stop()
        _replace(temp, output)
        return counts
    finally:
        shutil.rmtree(code, ignore_errors=True)
        shutil.rmtree(temp, ignore_errors=True)


def _defaults(request: ScoreRequest) -> dict[str, str]:
    return {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(request.batch_size),
        # the mapping layer reads Arrow `string`; Spark 4 would send `large_string`
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
        # spark-submit passes its spark.pyspark.python on as PYSPARK_PYTHON: keep the user's
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON") or sys.executable,
        "spark.pyspark.driver.python": os.environ.get("PYSPARK_DRIVER_PYTHON") or sys.executable,
        "spark.ui.showConsoleProgress": "false",
        "spark.task.maxFailures": "4",
    }


def _session(builder: Any) -> Any:
    try:
        return builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - the JVM gateway raises several untyped errors
        raise SparkJobError(f"Spark did not start: {_first_line(exc)}") from exc


def _score(
    spark: Any,
    model: ModelFiles,
    schema: ModelSchema,
    request: ScoreRequest,
    files: list[InputFile],
    source_format: str,
    code: Path,
    temp: Path,
    fmt: str,
) -> dict[str, int]:
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from mlops_cli.batch.engines.spark_tasks import partition_scorer

    context = spark.sparkContext
    context.setLogLevel("ERROR")
    context.addArchive(str(_zip_model(model, code)))  # unpacked in each executor's work folder
    context.addPyFile(str(_zip_package(code)))
    paths = [spark_path(f) for f in files]
    reader = spark.read
    if source_format == "csv":  # every column as text: the mapping parses it
        reader = reader.option("header", True).option("sep", one_delimiter(files))
    frame = {"parquet": reader.parquet, "csv": reader.csv, "jsonl": reader.json}[source_format](*paths)
    columns = list(dict.fromkeys([*schema.columns, *request.passthrough]))
    frame = frame.select(*[f"`{c}`" for c in columns])
    spec = _spec(model, schema, request)
    arrow_schema = _output_schema(spec, to_arrow_schema(frame.schema))
    counters = (context.accumulator(0), context.accumulator(0))
    scorer = partition_scorer(spec, _model_archive_name(model), model.model_file, arrow_schema, counters)
    scored = frame.mapInArrow(scorer, from_arrow_schema(arrow_schema))
    writer = scored.write.mode("errorifexists").format(WRITERS[fmt])
    if fmt == "csv":
        writer = writer.option("header", True)
    writer.save(temp.as_uri())
    read, failed = int(counters[0].value), int(counters[1].value)
    partitions = scored.rdd.getNumPartitions()
    return {"rows": read, "failed": failed, "scored": read - failed, "partitions": partitions}


def _spec(model: ModelFiles, schema: ModelSchema, request: ScoreRequest) -> WorkerSpec:
    threads = 1  # one core per task: Spark runs as many tasks per executor as it has cores
    return WorkerSpec(
        model_path=str(model.root / model.model_file),
        model_digest=model.model_digest,
        signature=model.signature,
        features=request.features or None,
        class_labels=schema.class_labels,
        threads=threads,
        optimization=request.optimization,
        providers=request.providers,
        passthrough=request.passthrough,
        on_error=request.on_error,
        parts_dir="",
        file_names=("input",),
    )


def _output_schema(spec: WorkerSpec, input_schema: Any) -> Any:
    """The output columns and types, from scoring zero rows on the driver with the same code."""
    import pyarrow as pa

    from mlops_cli.batch.worker import load_predictor, score_table

    empty = pa.RecordBatch.from_pylist([], schema=input_schema)
    table, _ = score_table(load_predictor(spec), spec, 0, 0, empty)
    return table.schema


def _model_archive_name(model: ModelFiles) -> str:
    return f"model-{model.model_digest.rsplit(':', 1)[-1].replace('/', '-')[:16]}.zip"


def _zip_model(model: ModelFiles, folder: Path) -> Path:
    """The model's folder (the ONNX file and any external data beside it) for `addArchive`."""
    target = folder / _model_archive_name(model)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(model.root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(model.root))
    return target


def _zip_package(folder: Path) -> Path:
    """This package as a zip for `addPyFile`: executors import the same scoring code."""
    import mlops_cli

    source = Path(mlops_cli.__file__).parent
    target = folder / "mlops_cli.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*.py")):
            archive.write(path, Path("mlops_cli") / path.relative_to(source))
    return target


def _replace(temp: Path, output: Path) -> None:
    """Put the committed folder in place; an older output is moved aside first, then removed."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.mlops-old-{secrets.token_hex(4)}"
        os.rename(output, old)
    os.rename(temp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


_INPUT_ERROR = re.compile(r"InputError: (.+)")


def _job_error(exc: BaseException) -> MlopsError:
    """The worker's own error when it raised one of ours, else Spark's first useful line."""
    text = str(exc)
    match = _INPUT_ERROR.search(text)
    if match:
        hint = "fix the data, or pass --on-error skip to score the other rows"
        return InputError(match[1].strip(), hint=hint)
    ours = re.search(r"mlops_cli\.errors\.\w+: (.+)", text)
    if ours:
        return MlopsError(ours[1].strip())
    return SparkJobError(f"the Spark job failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(("at ", "Traceback", "File ")):
            return line[:400]
    return type(exc).__name__


def one_delimiter(files: list[InputFile]) -> str:
    """The delimiter every CSV input uses: Spark reads them all with one."""
    found = {file.path.name: csv_delimiter(file) for file in files}
    if len(set(found.values())) > 1:
        shown = ", ".join(f"{name} {delimiter!r}" for name, delimiter in found.items())
        raise UsageError(
            f"the CSV inputs use different delimiters ({shown}); Spark reads them all with one",
            hint="convert them to one delimiter, or score them in separate runs",
        )
    return next(iter(found.values()))
