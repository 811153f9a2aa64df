"""What runs inside Spark's Python workers: `mapInArrow` batches scored through batch/worker.py.

Imported on executors from the zip of mlops_cli the driver ships with `addPyFile`, so the code
that scores a row is the same as the local engine's (score_table: the signature-driven mapping
of runtime/). The model folder arrives through `SparkContext.addArchive`; each Python worker opens
it once: `runtime.session.get_session` keeps one session per process and model digest, and
Spark reuses its Python workers from task to task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.batch.worker import WorkerSpec, load_predictor, score_table

if TYPE_CHECKING:
    import pyarrow as pa


def partition_scorer(
    spec: WorkerSpec, model_dir: str, model_file: str, schema: pa.Schema, counters: tuple[Any, Any]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function `mapInArrow` runs per partition: Arrow batches in, scored batches out.

    `counters` are Spark accumulators (rows read, rows skipped): a result task's updates count
    once, even when Spark retries the task after a lost worker.
    """
    rows_read, rows_failed = counters

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles, TaskContext

        model_path = Path(SparkFiles.get(model_dir)) / model_file
        task = TaskContext.get()
        label = f"partition {task.partitionId()}" if task is not None else "partition"
        local = replace(spec, model_path=str(model_path), file_names=(label,))
        predictor = load_predictor(local)
        start = 0
        for batch in batches:
            table, errors = score_table(predictor, local, 0, start, batch)
            start += batch.num_rows
            rows_read.add(batch.num_rows)
            if errors is not None:
                rows_failed.add(errors.num_rows)
            yield from table.cast(schema).to_batches()

    return score
