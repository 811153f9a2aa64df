"""Event names: every audit action is an event, also known by a dotted name and MLflow's names.

A hook's `events` list holds names or glob patterns (`deploy.*`, `model.*`, `*`). A pattern
matches an event when it matches the audit action itself or any of its other names, so both
`register` and `model.registered` (and MLflow's `model_version.created`) select registrations.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

# audit action -> (dotted name, other names). The dotted name gives the webhook payload's
# entity and action, as MLflow's payloads have them.
EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "init": ("store.initialised", ()),
    "register": ("model.registered", ("model_version.created",)),
    "convert": ("model.converted", ("model_version.created",)),
    "tag": ("model.tagged", ("model_version_tag.set",)),
    "untag": ("model.untagged", ("model_version_tag.deleted",)),
    "alias": ("alias.set", ("model_version_alias.created",)),
    "unalias": ("alias.removed", ("model_version_alias.deleted",)),
    "rm": ("model.removed", ()),  # MLflow has no event for a deleted version
    "score-batch.start": ("batch.started", ()),
    "score-batch": ("batch.finished", ()),
    "image": ("image.built", ()),
    "deploy.create": ("deploy.created", ()),
    "deploy.switch": ("deploy.switched", ()),
    "deploy.failed": ("deploy.failed", ()),
    "deploy.rollback": ("deploy.rolled_back", ()),
    "deploy.delete": ("deploy.deleted", ()),
    "drift.detected": ("drift.detected", ()),
    "drift.checked": ("drift.checked", ()),
    "monitor.baseline": ("monitor.baseline", ()),
    "profile": ("model.profiled", ()),
    "gc": ("store.gc", ()),
    "recover": ("store.recovered", ()),
    "remote.add": ("remote.added", ()),
    "remote.remove": ("remote.removed", ()),
    "push": ("remote.pushed", ()),
    "pull": ("model.pulled", ("model_version.created",)),
    "pipeline.start": ("pipeline.started", ()),
    "pipeline": ("pipeline.finished", ()),
    "bundle": ("bundle.built", ()),
}


def names_for(action: str) -> tuple[str, ...]:
    """Every name an event with this audit action answers to; an unknown action is its own name."""
    dotted, others = EVENTS.get(action, (action, ()))
    return tuple(dict.fromkeys((action, dotted, *others)))


def entity_action(action: str) -> tuple[str, str]:
    """MLflow's payload split of the dotted name: ('model', 'registered')."""
    dotted = EVENTS.get(action, (action, ()))[0]
    entity, _, verb = dotted.rpartition(".")
    return (entity, verb) if entity else (dotted, "")


def known_names() -> list[str]:
    return sorted({name for action in EVENTS for name in names_for(action)})


def unknown_pattern(pattern: str) -> bool:
    """True when `pattern` is neither a known name nor a glob matching one."""
    return not any(fnmatchcase(name, pattern) for name in known_names())


def matches(patterns: list[str], action: str) -> bool:
    names = names_for(action)
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in names)
