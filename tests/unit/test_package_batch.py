"""`package --with-batch`: what the image must hold to run score-batch shards."""

from __future__ import annotations

from mlops_cli.packaging import image as package
from mlops_cli.packaging import wheels


def test_the_batch_closure_holds_the_s3_backend_and_its_dependencies():
    names = {wheels.normalise(name) for name in wheels.closure(wheels.BATCH)}
    assert {"pyarrow", "fsspec", "s3fs", "aiobotocore", "botocore", "aiohttp"} <= names
    assert "boto3" not in names and "pandas" not in names  # only what is required, not extras
    pinned = dict(wheels.pins(with_batch=True))
    assert {"onnxruntime", "numpy", "s3fs", "botocore"} <= set(pinned)
    assert len(pinned) == len({wheels.normalise(n) for n in pinned})  # no package twice


def test_the_batch_code_comes_only_with_the_option():
    serving = {relative for relative, _ in package.code_files()}
    batch = {relative for relative, _ in package.code_files(with_batch=True)}
    assert "batch/engines/shard.py" not in serving and "runtime/loader.py" not in serving
    assert {"batch/engines/shard.py", "runtime/loader.py", "storage/objects.py", "store/db.py"} <= batch
    assert serving < batch and not any(path.startswith("cli/") for path in batch)
