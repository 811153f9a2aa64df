"""`mlops bundle verify FILE`: prove a bundle is the registered version, without a store.

Every member is hashed in one streaming pass and compared with manifest.json (no member
missing, none extra, none changed); the model files must hash to the version digest the
manifest names (the same canonical manifest digest the store computes), and the carried
registration event must still hash to its recorded hash and name that digest.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.domain import AuditEvent, FileEntry, Manifest, chain_hash, recorded_digest
from mlops_cli.errors import CheckFailedError, NotFoundError
from mlops_cli.packaging.layout import FORMAT, MANIFEST, RECORD
from mlops_cli.packaging.tarball import UnsafeArchiveError, read_members


@dataclass
class BundleReport:
    """What verify found; `problems` is empty when the bundle is intact."""

    path: str
    ref: str | None = None
    digest: str | None = None
    platform: str | None = None
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "ref": self.ref,
            "digest": self.digest,
            "platform": self.platform,
            "files": self.files,
            "problems": self.problems,
        }


def verify_bundle(path: Path) -> BundleReport:
    """The report of an intact bundle; CheckFailedError (exit 5, `report` attached) otherwise.

    NotFoundError when `path` is no file.
    """
    if not path.is_file():
        raise NotFoundError(f"{path}: no such bundle file")
    report = BundleReport(str(path))
    try:
        members = {m.path: m for m in read_members(path, keep=(MANIFEST, RECORD))}
    except (tarfile.TarError, OSError, EOFError, zlib.error, UnsafeArchiveError) as exc:
        report.problems.append(f"not a readable bundle: {exc}")
        return _failed(report)
    manifest = _load_json(members, MANIFEST, report)
    if manifest is None:
        return _failed(report)
    if manifest.get("format") != FORMAT:
        report.problems.append(f"{MANIFEST} says format {manifest.get('format')!r}, expected {FORMAT!r}")
        return _failed(report)
    version = manifest.get("version") or {}
    report.ref, report.digest = version.get("ref"), version.get("digest")
    report.platform = manifest.get("platform")
    _check_entries(manifest.get("entries") or {}, members, report)
    _check_version(version, manifest.get("model_dir") or "model", members, report)
    _check_record(members, report)
    return report if report.ok else _failed(report)


def _failed(report: BundleReport) -> BundleReport:
    more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
    raise CheckFailedError(
        f"bundle {report.path} failed verification: {report.problems[0]}{more}",
        hint="rebuild it with `mlops package REF --format bundle` from a verified store",
        report=report,
    )


def _load_json(members: dict, name: str, report: BundleReport) -> dict[str, Any] | None:
    member = members.get(name)
    if member is None:
        report.problems.append(f"{name} is missing")
        return None
    try:
        data = json.loads(member.data or b"")
    except ValueError as exc:
        report.problems.append(f"{name} is not valid JSON: {exc}")
        return None
    if not isinstance(data, dict):
        report.problems.append(f"{name} is not a JSON object")
        return None
    return data


def _check_entries(expected: dict[str, Any], members: dict, report: BundleReport) -> None:
    for name, want in sorted(expected.items()):
        member = members.get(name)
        if member is None:
            report.problems.append(f"{name} is missing")
        elif not isinstance(want, dict) or (member.sha256, member.size) != (
            want.get("sha256"),
            want.get("size"),
        ):
            report.problems.append(f"{name} changed: its sha256 is {member.sha256}, the manifest says {want}")
        else:
            report.files += 1
    extra = sorted(set(members) - set(expected) - {MANIFEST})
    report.problems += [f"{name} is not in the manifest" for name in extra]


def _check_version(version: dict[str, Any], model_dir: str, members: dict, report: BundleReport) -> None:
    try:
        files = tuple(
            FileEntry(f["path"], int(f["size"]), int(str(f["mode"]), 8), f["digest"])
            for f in version["files"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"{MANIFEST} has no valid version file list: {exc}")
        return
    if Manifest(files).digest != report.digest:
        report.problems.append(
            f"the model files listed hash to {Manifest(files).digest}, the version digest is {report.digest}"
        )
    for entry in files:
        member = members.get(f"{model_dir}/{entry.path}")
        if member is None:
            report.problems.append(f"{model_dir}/{entry.path} is missing")
        elif f"sha256:{member.sha256}" != entry.digest or member.size != entry.size:
            report.problems.append(f"{model_dir}/{entry.path} is not the registered file {entry.digest}")


def _check_record(members: dict, report: BundleReport) -> None:
    record = _load_json(members, RECORD, report)
    if record is None:
        return
    try:
        event = AuditEvent.from_dict(record)
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"{RECORD} is not an audit event: {exc}")
        return
    if chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
        report.problems.append(f"{RECORD}: the registration event was altered (its hash no longer holds)")
    elif recorded_digest(event, report.ref or "") != report.digest:
        report.problems.append(
            f"{RECORD}: the registration event of {report.ref} recorded "
            f"{recorded_digest(event, report.ref or '')}, not {report.digest}"
        )
