"""`mlops score-batch`: streaming, resumable, sharded batch scoring of CSV, Parquet and JSON Lines.

- `request`: what the user asked for, validated (formats, shards, workers).
- `inputs`: input paths and globs to files, their headers checked against each other.
- `readers`: files to fixed-size chunks of rows, numbered the same way on every run.
- `pipeline`: a reader thread ahead of scoring, and the worker process pool.
- `worker`: one chunk scored and written as a part file (in-process or in a worker process).
- `script_scorer`, `script_child`, `script_version`: an Azure-form entry script as the scorer:
  its `run()` in a child process of the version's environment, fed `{"data": [[...]]}`.
- `checkpoint`: the job folder `.mlops/jobs/<id>/`: plan, lock and finished parts.
- `encoding`: a part's rows as CSV / JSON Lines bytes, so the output is assembled by concatenation.
- `writers`: finished parts assembled into the output under a temp name, then renamed.
- object-storage URLs (s3://, gs://, az://) go through mlops_cli/storage/ (shared with remote/).
- `records`: the job records every engine shares (resume lookup, abandon, failure recording).
- `run`: the domain function the command calls (the local engine).
- `engines/`: the other places score-batch runs: Spark, a Kubernetes Indexed Job, one shard.
"""
