"""An Azure-form entry-script version made ready for `score-batch`: its files, the columns its
`run()` receives, and the environment it runs in.

The rest of the batch engine (chunks, workers, parts, resume, the job record) is the one the
ONNX versions use; only the scorer differs (`script_scorer`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mlops_cli.batch.inputs import InputFile, check_same_columns
from mlops_cli.batch.request import ScoreRequest
from mlops_cli.batch.script_scorer import ScriptSpec
from mlops_cli.domain import ProgressSink
from mlops_cli.errors import UsageError
from mlops_cli.runtime.loader import ResolvedModel, resolve_onnx
from mlops_cli.runtime.mapping import ModelSchema
from mlops_cli.store import Store


def resolve_for_batch(store: Store, ref: str) -> tuple[ResolvedModel, ScriptSpec | None]:
    """The version's verified files; for an Azure-form entry script also how to start it
    (its columns and interpreter are filled in by `script_schema` and `with_environment`)."""
    from mlops_cli.models.manage import show_version
    from mlops_cli.packaging.bundling import local_bundle

    if not show_version(store, ref).runs_own_model:
        return resolve_onnx(store, ref), None
    version, bundle = local_bundle(store, ref)
    model = ResolvedModel(version.ref, version.digest, version.digest, bundle, bundle.parent, {})
    return model, ScriptSpec(bundle=str(bundle), script=Path(version.entry["script"]).name, columns=())


def script_schema(files: list[InputFile], request: ScoreRequest) -> ModelSchema:
    """The columns run() receives in each row of `data`: --features in that order, else every
    input column but the --passthrough ones, in the file's order."""
    features = request.features or tuple(c for c in check_same_columns(files) if c not in request.passthrough)
    if not features:
        raise UsageError("every input column is a --passthrough column: run() would receive no values")
    return ModelSchema(inputs=(), outputs=(), features=tuple(features), layout="script")


def with_environment(
    store: Store,
    model: ResolvedModel,
    spec: ScriptSpec,
    schema: ModelSchema,
    env_manager: str,
    progress: ProgressSink,
) -> ScriptSpec:
    """`spec` with its columns and the interpreter of the version's environment (built once and
    cached, as `serve` does; None with --env-manager local or no environment file)."""
    from mlops_cli.environments.venvs import environment_for, envs_dir
    from mlops_cli.models.manage import show_version

    entry = show_version(store, model.ref).entry
    environment = environment_for(envs_dir(store), entry, env_manager, progress)
    python = str(environment.python) if environment is not None else None
    return replace(spec, columns=schema.columns, python=python)
