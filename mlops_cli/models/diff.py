"""`mlops models diff A B`: what changed between two versions, section by section.

Files (by path and digest), signature (by input/output name), tags, lineage (framework, data,
git commit, source version, pipeline run) and environment (interpreter and distributions, read
from the two snapshots). Each section is empty when nothing changed in it.
"""

from __future__ import annotations

from typing import Any

from mlops_cli.domain import ModelVersion
from mlops_cli.models import environment
from mlops_cli.models.manage import show_version


def diff_versions(store, ref_a: str, ref_b: str) -> dict[str, Any]:
    """The differences from version A to version B; NotFoundError when either does not exist."""
    a, b = show_version(store, ref_a), show_version(store, ref_b)
    return {
        "a": a.ref,
        "b": b.ref,
        "identical_files": a.digest == b.digest,
        "files": _files(a, b),
        "signature": _signature(a.signature or {}, b.signature or {}),
        "tags": _mapping(a.tags, b.tags),
        "lineage": _fields(_lineage(a), _lineage(b)),
        "environment": _environment(store, a, b),
    }


def _mapping(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: new[k] for k in sorted(set(new) - set(old))},
        "removed": {k: old[k] for k in sorted(set(old) - set(new))},
        "changed": {
            k: {"from": old[k], "to": new[k]} for k in sorted(set(old) & set(new)) if old[k] != new[k]
        },
    }


def _fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"from": old.get(k), "to": new.get(k)}
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    }


def _files(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    old = {f.path: f for f in a.files}
    new = {f.path: f for f in b.files}
    changed = [
        {
            "path": p,
            "from": old[p].digest,
            "to": new[p].digest,
            "size_from": old[p].size,
            "size_to": new[p].size,
        }
        for p in sorted(set(old) & set(new))
        if old[p].digest != new[p].digest
    ]
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
        "unchanged": sum(1 for p in set(old) & set(new) if old[p].digest == new[p].digest),
    }


def _signature(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for kind in ("inputs", "outputs"):
        before = {i["name"]: {"dtype": i.get("dtype"), "shape": i.get("shape")} for i in old.get(kind, [])}
        after = {i["name"]: {"dtype": i.get("dtype"), "shape": i.get("shape")} for i in new.get(kind, [])}
        result[kind] = _mapping(before, after)
    return result


def _lineage(version: ModelVersion) -> dict[str, Any]:
    metadata = version.metadata if isinstance(version.metadata, dict) else {}
    pipeline = metadata.get("pipeline") or {}
    source = metadata.get("derived_from") or {}
    return {
        "framework": version.framework,
        "source_path": version.source_path,
        "datasets": sorted(f"{d.path} {d.digest}" for d in version.datasets),
        "git_commit": version.git.commit if version.git else None,
        "git_dirty": version.git.dirty if version.git else None,
        "derived_from": source.get("ref") if isinstance(source, dict) else source,
        "pipeline_run": pipeline.get("job"),
        "pipeline_step": pipeline.get("step"),
        "pipeline_lock": pipeline.get("lock"),
        "pipeline_inputs": sorted(f"{i['path']} {i.get('sha256')}" for i in pipeline.get("inputs", [])),
        "pipeline_params": pipeline.get("params"),
    }


def _environment(store, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    refs = [(v.metadata or {}).get("environment") for v in (a, b)]
    if not all(isinstance(r, dict) and r.get("digest") for r in refs):
        return {"recorded": [bool(r) for r in refs], "same": None}
    if refs[0]["digest"] == refs[1]["digest"]:
        return {"recorded": [True, True], "same": True, "digest": refs[0]["digest"]}
    before, after = (environment.load(store.objects, r["digest"]) for r in refs)
    return {"recorded": [True, True], "same": False, **environment.diff(before, after)}
