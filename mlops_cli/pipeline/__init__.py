"""Pipelines: `pipeline.yaml`, the step graph, the `mlops.lock` file and cached runs (issue 19).

Close to DVC's `dvc.yaml`/`dvc.lock` (`stages`, `cmd`, `deps`, `params`, `outs`), so a DVC user
reads both files at first sight; the store's content-addressed blobs hold the outputs.
"""
