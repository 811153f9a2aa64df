"""Where score-batch runs. Every engine scores rows with the same code (batch/worker.py
`score_table` over runtime/'s signature-driven mapping), so outputs agree row for row.

- local: this machine, streaming and resumable: batch/run.py (today's engine, unchanged).
- `spark`, `spark_tasks`, `spark_job`, `spark_submit`: a PySpark `mapInArrow` job (driver,
  Python-worker side, the recorded job, the spark-submit entry point).
- `kubernetes_job`, `kubernetes`: an Indexed Job of N shards (manifest; apply, follow, publish).
- `shard`: `python -m mlops_cli.batch.engines.shard`, one shard without a store (each pod).
"""
