"""`mlops monitor`: baselines, data and prediction drift, served-traffic checks, the HTML report.

- `columns`: which columns are numeric or categorical, and how the reader must type them.
- `sketch`: streaming per-column statistics of numbers (counts over fixed knots).
- `categories`: counts per category, folded past 10,000 as the reference was.
- `scan`: one pass over input files (through `batch/readers.py`), with the model's predictions
  (through `runtime/`) added as columns.
- `metrics`: Evidently's stattests and its `auto` rules, from raw columns or from sketches.
- `baseline`: computing, storing (a CAS blob plus a `baseline` artifact) and loading baselines.
- `served`: what `serve --collect` wrote: rows, request count, error rate, latency.
- `compare`: one column compared: metric, verdict, statistics, data quality.
- `exact`: `check --reference`: both files' columns in memory a few at a time, sorted once.
- `check`: the check itself and its record (a `monitor` job and a `drift.*` audit event).
- `report`: the self-contained HTML report (matplotlib, inline images).

Nothing here imports numpy, pyarrow, scipy or matplotlib at module level.
"""
