"""Frozen dataclasses shared by every layer, and the rules for names and references.

Nothing here imports the rest of the package, so the store, the runners and the CLI can all
depend on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from mlops_cli.errors import UsageError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9._-]{0,63}")
TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")
RESERVED_ALIASES = frozenset({"latest"})
MAX_TAG_VALUE = 5000


def canonical_json(data: Any) -> bytes:
    """The one byte form that digests are computed over: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def validate_name(name: str) -> str:
    """Return `name` if it is a valid model name, else raise UsageError saying why."""
    if not NAME_PATTERN.fullmatch(name or "") or ".." in name:
        raise UsageError(
            f"invalid model name {name!r}",
            hint="use 1-128 characters of a-z 0-9 . _ - starting with a letter or digit, no '..'",
        )
    return name


def validate_alias(alias: str) -> str:
    """Return `alias` if valid; `latest` and names that look like versions are refused."""
    if alias in RESERVED_ALIASES or not ALIAS_PATTERN.fullmatch(alias or "") or ".." in alias:
        raise UsageError(
            f"invalid alias {alias!r}",
            hint="use 1-64 characters of a-z 0-9 . _ - starting with a letter; 'latest' is reserved",
        )
    return alias


def parse_tag(text: str) -> tuple[str, str]:
    """Split `KEY=VALUE` into its parts, or raise UsageError."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"tag {text!r} is not KEY=VALUE")
    validate_tag_key(key)
    if len(value) > MAX_TAG_VALUE:
        raise UsageError(f"tag value for {key!r} is longer than {MAX_TAG_VALUE} characters")
    return key, value


def validate_tag_key(key: str) -> str:
    if not TAG_KEY_PATTERN.fullmatch(key or ""):
        raise UsageError(
            f"invalid tag key {key!r}",
            hint="use 1-128 characters of A-Z a-z 0-9 _ . : / -, starting with a letter, digit or _",
        )
    return key


@dataclass(frozen=True)
class ModelRef:
    """`NAME` or `NAME:latest` (latest), `NAME:N` (a version) or `NAME@ALIAS`."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        text = (text or "").strip()
        if "@" in text:
            name, _, alias = text.partition("@")
            return cls(validate_name(name), alias=validate_alias(alias))
        if ":" in text:
            name, _, version = text.partition(":")
            validate_name(name)
            if version == "latest":
                return cls(name)
            if not version.isdigit() or int(version) < 1:
                raise UsageError(
                    f"invalid model reference {text!r}",
                    hint="use NAME, NAME:N, NAME:latest or NAME@ALIAS",
                )
            return cls(name, version=int(version))
        return cls(validate_name(text))

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: its path relative to the version root and its blob."""

    path: str
    size: int
    mode: int
    digest: str


@dataclass(frozen=True)
class Manifest:
    """The files of a version. Its digest names the version's content, whatever its name."""

    files: tuple[FileEntry, ...]

    def canonical(self) -> bytes:
        entries = sorted(self.files, key=lambda f: f.path)
        return canonical_json(
            {
                "files": [
                    {"path": f.path, "size": f.size, "mode": f"{f.mode:o}", "digest": f.digest}
                    for f in entries
                ]
            }
        )

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical()).hexdigest()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class GitInfo:
    """Where a piece of work came from in git; `dirty` means uncommitted changes existed."""

    repo: str
    branch: str | None
    commit: str | None
    dirty: bool
    remote: str | None = None


@dataclass(frozen=True)
class Provenance:
    """Who acts, from which host, with which git state and why: stamped on every change."""

    actor: str
    host: str
    git: GitInfo | None = None
    message: str | None = None


@dataclass(frozen=True)
class DatasetRecord:
    """Training or evaluation data recorded with a version, stored by content."""

    path: str
    digest: str
    size: int
    role: str = "training"


@dataclass(frozen=True)
class ModelVersion:
    """Everything recorded about one version of a model."""

    name: str
    version: int
    digest: str
    framework: str
    size: int
    created_at: str
    created_by: str
    host: str
    source_path: str | None
    description: str | None
    message: str | None
    git: GitInfo | None
    signature: dict[str, Any] | None
    files: tuple[FileEntry, ...]
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    datasets: tuple[DatasetRecord, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def entry(self) -> dict[str, Any] | None:
        """How to run the version's entry script (`register --entry`), or None."""
        entry = self.metadata.get("entry")
        return entry if isinstance(entry, dict) else None

    @property
    def runs_own_model(self) -> bool:
        """An Azure-form entry script: its init() loads the model files, no ONNX graph needed."""
        return self.entry is not None and self.entry.get("form") == "azure"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["files"] = [{**asdict(f), "mode": f"{f.mode:o}"} for f in self.files]
        return data


@dataclass(frozen=True)
class ModelSummary:
    """One line of `mlops models list`."""

    name: str
    latest_version: int | None
    versions: int
    aliases: dict[str, int]
    updated_at: str
    description: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One link of the append-only, hash-chained audit log."""

    seq: int
    ts: str
    action: str
    subject: str
    actor: str
    host: str
    message: str | None
    git: GitInfo | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        """An event from its plain form (an export row, a bundle's record): KeyError or TypeError
        when a field is missing or of the wrong kind."""
        git = data.get("git")
        return cls(
            seq=int(data["seq"]),
            ts=data["ts"],
            action=data["action"],
            subject=data["subject"],
            actor=data["actor"],
            host=data["host"],
            message=data.get("message"),
            git=GitInfo(**git) if git else None,
            details=data["details"],
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )

    def chained_fields(self) -> dict[str, Any]:
        """The fields the hash covers: everything but the hashes themselves."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "action": self.action,
            "subject": self.subject,
            "actor": self.actor,
            "host": self.host,
            "message": self.message,
            "git": asdict(self.git) if self.git else None,
            "details": self.details,
        }


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """hash = sha256(prev_hash + canonical event): editing or removing any event breaks it."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(fields)).hexdigest()


GENESIS_HASH = "0" * 64


def recorded_digest(event: AuditEvent, ref: str) -> str | None:
    """The digest `event` recorded for `ref`: a register/convert's own, or a recover's state."""
    if event.action != "recover":
        return event.details.get("digest")
    versions = ((event.details.get("state") or {}).get("registry") or {}).get("versions") or {}
    return (versions.get(ref) or {}).get("digest")


class ProgressSink(Protocol):
    """Where long work reports progress; the CLI draws a bar, scripts get nothing."""

    def task(
        self, description: str, total: float | None, unit: str = "bytes"
    ) -> AbstractContextManager[Callable[[float], None]]:
        """Start a task counted in `unit` ("bytes" or "rows"); the context yields `advance(amount)`."""
        ...


class NoProgress:
    """A ProgressSink that reports nothing."""

    @contextmanager
    def task(
        self, description: str, total: float | None, unit: str = "bytes"
    ) -> Iterator[Callable[[float], None]]:
        yield lambda amount: None


@dataclass(frozen=True)
class Job:
    """A long-running piece of work (a batch scoring run, a monitoring run) and its state."""

    id: str
    kind: str
    model_ref: str | None
    model_digest: str | None
    status: str  # running, completed, failed, interrupted, abandoned (inputs changed: never resumable)
    created_at: str
    updated_at: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    """Something built from a version, such as a Docker image."""

    kind: str
    ref: str
    digest: str | None
    created_at: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One hook delivery of one audit event, kept in the outbox whatever its fate."""

    id: int
    delivery_id: str
    event_seq: int
    event: str
    kind: str  # webhook or command
    target: str  # the URL or the command line
    status: str  # pending, sending, delivered, failed
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    delivered_at: str | None
    hook: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Revision:
    """One attempt to run a version in a deployment: create, switch or rollback, and how it went."""

    deployment: str
    revision: int
    kind: str  # create, switch, rollback
    model: str
    version: int
    digest: str
    requested_ref: str  # what the user typed (an alias, latest, NAME:N)
    outcome: str  # live, retired (was live, then replaced), failed (refused by the gate)
    detail: str | None
    spec: dict[str, Any]  # the settings the target ran it with
    state: dict[str, Any]  # what the target reported (pid, container id, endpoint)
    rollback_of: int | None
    created_at: str
    actor: str
    message: str | None

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def models(self) -> list[str]:
        """Every version the revision serves: `ref`, then a multi-model revision's others."""
        others = self.spec.get("others") or []
        return [self.ref, *(f"{o['model']}:{o['version']}" for o in others)]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref, "models": self.models}


@dataclass(frozen=True)
class Deployment:
    """A named deployment: its target and the revision that serves (None when none ever did)."""

    name: str
    target: str
    current_revision: int | None
    created_at: str
    updated_at: str
    current: Revision | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["current"] = self.current.to_dict() if self.current else None
        return data


# Memory amounts as Kubernetes writes them (the one grammar: deploy settings, Docker limits,
# profiles and the Kubernetes manifests all read it here).
MEMORY_QUANTITY = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity ("512Mi", "1G", "268435456") in bytes; UsageError otherwise."""
    match = MEMORY_QUANTITY.fullmatch(str(quantity).strip())
    if not match:
        raise UsageError(f"--memory {quantity!r} is not a quantity", hint="for example 256Mi, 1Gi or 500M")
    value = int(float(match.group(1)) * _FACTORS[match.group(2)])
    if value < 16 * 2**20:
        raise UsageError(f"--memory {quantity!r} is below 16Mi: a server cannot run in that")
    return value
