"""What a step does with its out after it succeeded: register it, convert it, profile it.

The registered version's metadata names the pipeline run, the step, and the digests of the
inputs the step ran with, so `mlops audit lineage` leads from the model to the run and its data.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.pipeline.spec import StepSpec


def check_options(step: StepSpec) -> None:
    """Refuse unknown `convert`/`profile` options before anything runs (UsageError naming the step)."""
    for key, request_class in _requests(step):
        known = {f.name for f in dataclasses.fields(request_class)} - {"ref", "message"}
        unknown = sorted(set(getattr(step, key)) - known)
        if unknown:
            raise UsageError(
                f"step {step.name!r}: unknown `{key}` option {', '.join(unknown)}",
                hint=f"known: {', '.join(sorted(known))}",
            )


def _requests(step: StepSpec):
    if step.convert is not None:
        from mlops_cli.convert.service import ConvertRequest

        yield "convert", ConvertRequest
    if step.profile is not None:
        from mlops_cli.profile.request import ProfileRequest

        yield "profile", ProfileRequest


def after_step(store, step: StepSpec, root: Path, lineage: dict[str, Any]) -> dict[str, Any]:
    """Register (then convert, then profile) a step's out; return the refs made."""
    from mlops_cli.models.registering import register_model

    spec = step.register
    assert spec is not None
    version = register_model(
        store,
        root / spec.source,
        name=spec.name,
        tags=spec.tags,
        alias=spec.alias,
        description=spec.description,
        metadata={"pipeline": lineage},
        message=f"pipeline step {step.name}",
    )
    made: dict[str, Any] = {"registered": version.ref}
    target = version.ref
    if step.convert is not None:
        from mlops_cli.convert.service import ConvertRequest, convert_model

        options = _paths_under(step.convert, root, ("sample",))
        if "input_shape" in options:
            options["input_shape"] = tuple(options["input_shape"])
        converted = convert_model(store, ConvertRequest(ref=version.ref, **options))
        if converted.version is not None:
            made["converted"] = target = converted.version.ref
    if step.profile is not None:
        from mlops_cli.profile.request import ProfileRequest
        from mlops_cli.profile.sweep import run_profile

        options = _paths_under(step.profile, root, ("data",))
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        request = ProfileRequest(ref=target, **options)
        request.check()
        run_profile(store, request)
        made["profiled"] = target
    return made


def _paths_under(options: dict[str, Any], root: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """Options naming files are relative to the pipeline's folder, like deps and outs."""
    return {k: (root / v if k in keys and v is not None else v) for k, v in options.items()}
