"""`check --reference`: both files' columns in memory, a few columns at a time, exact statistics.

Each column is read whole from both sides, sorted once (`metrics.Raw`), compared, and dropped
before the next few columns are read, so memory holds a handful of columns, not the two tables.
Parquet reads a subset of columns for little more than those columns cost, so its columns go
GROUP_COLUMNS at a time; CSV and JSON Lines are parsed whole by any read, so their columns are
read in one pass. The model's outputs need its inputs and a run of the model: they form one
group of their own. The columns of a group are sorted and compared in parallel threads (numpy's
sort and searchsorted release the GIL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mlops_cli.domain import ProgressSink
from mlops_cli.monitor import metrics, scan
from mlops_cli.monitor.categories import Categories
from mlops_cli.monitor.scan import NUMERIC, Table
from mlops_cli.monitor.sketch import Binned

if TYPE_CHECKING:
    import numpy as np

    from mlops_cli.runtime.predictor import Predictor

GROUP_COLUMNS = 4  # numeric columns held at once per side (x 8 bytes x rows)


class Values:
    """A whole numeric column gathered chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def update(self, values: np.ndarray) -> None:
        self.parts.append(values)

    def finish(self) -> metrics.Raw:
        import numpy as np

        whole = np.concatenate(self.parts) if self.parts else np.empty(0)
        self.parts = []
        return metrics.Raw.of(whole)


def column_groups(
    columns: list[str], predictions: set[str], tables: tuple[Table, ...]
) -> Iterator[list[str]]:
    """The columns in reading order: data columns in groups, then the model's outputs."""
    data = [c for c in columns if c not in predictions]
    parquet_only = all(f.format == "parquet" for table in tables for f in table.files)
    size = GROUP_COLUMNS if parquet_only else max(len(data), 1)
    for start in range(0, len(data), size):
        yield data[start : start + size]
    outputs = [c for c in columns if c in predictions]
    if outputs:
        yield outputs


def compare_exact(
    reference: Table,
    current: Table,
    columns: list[str],
    kinds: dict[str, str],
    predictions: set[str],
    models: tuple[Predictor | None, Predictor | None],
    compare: Callable[[str, Any, Any], Any],
    progress: ProgressSink,
    keep_for_report: bool,
) -> tuple[list[Any], dict[str, Any], dict[str, Any], int]:
    """Compare `columns` of the two tables; return (compare's results in column order, the
    reference and current summaries kept for the report, the current data's row count).

    `models` runs on (reference, current) for the output columns; `compare(name, reference
    summary, current summary)` scores one column.
    """
    results: dict[str, Any] = {}
    kept_reference: dict[str, Any] = {}
    kept_current: dict[str, Any] = {}
    rows = 0

    def one(name: str, reference_side: Any, current_side: Any) -> None:
        a, b = _finish(reference_side), _finish(current_side)
        results[name] = compare(name, a, b)
        if keep_for_report:
            kept_reference[name], kept_current[name] = _for_report(a, b)

    _keep_freed_memory()
    # The columns read last are sorted and compared while the next ones are read.
    with scan.worker_pool() as readers, scan.worker_pool() as workers:
        pending: list[Any] = []
        for group in column_groups(columns, predictions, (reference, current)):
            needs_model = any(c in predictions for c in group)
            sides = []
            for table, model, label in ((reference, models[0], "reference"), (current, models[1], "current")):
                accumulators = {c: Values() if kinds[c] == NUMERIC else Categories(limit=None) for c in group}
                rows = scan.read_into(
                    table, accumulators, kinds, model if needs_model else None, readers, progress, label
                )
                sides.append(accumulators)
            _wait(pending)
            pending = [workers.submit(one, name, sides[0][name], sides[1][name]) for name in group]
        _wait(pending)
    return [results[c] for c in columns], kept_reference, kept_current, rows


def _keep_freed_memory() -> None:
    """Keep freed arrays of up to 32 MB in the heap instead of handing them back to the kernel.

    Every column allocates and frees a few arrays of 8-16 MB per million rows; glibc maps each
    afresh and the kernel zero-fills every page again, which cost as much system time as a third
    of the work. Peak memory is unchanged (the same arrays are reused). Not glibc: nothing done.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest allowed value
    mallopt(m_trim_threshold, 256 << 20)


def _wait(futures: list[Any]) -> None:
    for future in futures:
        future.result()


def _finish(summary: Any) -> Any:
    return summary.finish() if isinstance(summary, Values) else summary


def _for_report(reference: Any, current: Any) -> tuple[Any, Any]:
    """What the report draws, without the whole columns: counts over the report's own bins."""
    if not isinstance(reference, metrics.Raw) or reference.n == 0 or current.n == 0:
        return reference, current
    from mlops_cli.monitor.report import histogram_edges

    edges = histogram_edges(reference, current)
    return _binned(reference, edges), _binned(current, edges)


def _binned(side: metrics.Raw, edges: np.ndarray) -> Binned:
    binned = Binned(edges)
    if side.n:
        binned.update(side.values)
    binned.moments = side.moments
    return binned
