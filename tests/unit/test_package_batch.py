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


def _unshipped_imports(entries: tuple[str, ...], with_batch: bool) -> list[str]:
    """The modules of this package that the image's entry points import when they start
    (module-level imports, followed, parent packages included) but the image does not carry:
    the server or a shard would fail in the container with an ImportError."""
    import ast
    from pathlib import Path

    import mlops_cli

    source = Path(mlops_cli.__file__).parent
    shipped = {relative for relative, _ in package.code_files(with_batch)}

    def file_of(module: str) -> str | None:
        base = module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py") if module else ("__init__.py",):
            if (source / candidate).is_file():
                return candidate
        return None

    def imported_by(relative: str) -> set[str]:
        found = set()
        for node in ast.parse((source / relative).read_text()).body:  # what runs at import
            if isinstance(node, ast.Import):
                found |= {
                    a.name.removeprefix("mlops_cli.") for a in node.names if a.name.startswith("mlops_cli.")
                }
            elif (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and (node.module or "").startswith("mlops_cli")
            ):
                inside = node.module.removeprefix("mlops_cli").lstrip(".")
                found.add(inside)
                found |= {
                    f"{inside}.{a.name}".lstrip(".")
                    for a in node.names
                    if file_of(f"{inside}.{a.name}".lstrip("."))
                }
        return found

    seen, todo, missing = set(), list(entries), []
    while todo:
        module = todo.pop()
        parts = module.split(".") if module else []
        for depth in range(len(parts) + 1):  # a module's parent packages are imported first
            name = ".".join(parts[:depth])
            relative = file_of(name)
            if relative is None or relative in seen:
                continue
            seen.add(relative)
            if relative not in shipped:
                missing.append(f"mlops_cli.{name}" if name else "mlops_cli")
            todo += sorted(imported_by(relative))
    return sorted(missing)


def test_every_module_the_image_starts_with_is_in_the_image():
    """A shard pod once failed at start: batch/run.py had begun to import a module the image did
    not carry (mlops_cli.limits), which only the pod-in-Docker test saw."""
    serving = ("serving.__main__", "serving.healthcheck")
    assert _unshipped_imports(serving, with_batch=False) == []
    assert _unshipped_imports((*serving, "batch.engines.shard"), with_batch=True) == []
