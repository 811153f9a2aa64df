"""`mlops package --format bundle`: one deterministic .tar.gz that serves a version without Docker.

The archive holds the verified model files with `mlops-serving.json` (model/), the serving
code (app/mlops_cli/), the pinned requirements (and their wheels with --wheels, for the target
platform), the version's registration event (audit.json), a launcher (serve.sh, install.sh)
and manifest.json, which names every other member with its sha256. `mlops bundle verify`
checks all of it without a store (packaging/verify.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import AuditEvent, ModelRef
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.packaging import platforms
from mlops_cli.packaging.layout import FORMAT, MANIFEST, MODEL_DIR, RECORD
from mlops_cli.packaging.platforms import Platform
from mlops_cli.packaging.tarball import Entry, write_tarball
from mlops_cli.store import Store, jobs

SERVE_SH = """\
#!/bin/sh
# Serve this bundle: ./serve.sh [--port 8080] [--host 127.0.0.1] [--workers N] ...
# Runs with ./venv when ./install.sh made it, else with $PYTHON (default python3), which needs
# the packages of requirements.txt. The options are those of `python -m mlops_cli.serving`.
set -e
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/venv/bin/python" ]; then py="$here/venv/bin/python"; else py="${PYTHON:-python3}"; fi
export PYTHONPATH="$here/app${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" -m mlops_cli.serving --model-dir "$here/model" "$@"
"""

INSTALL_SH = """\
#!/bin/sh
# Make ./venv with the pinned packages: from ./wheels when the bundle carries them (no network),
# else from the package index. Python 3.11 is needed ($PYTHON, default python3).
set -e
here=$(cd "$(dirname "$0")" && pwd)
"${PYTHON:-python3}" -m venv "$here/venv"
if [ -d "$here/wheels" ]; then
    "$here/venv/bin/python" -m pip install --no-index --no-deps --find-links "$here/wheels" \\
        --disable-pip-version-check -r "$here/requirements.txt"
else
    "$here/venv/bin/python" -m pip install --no-deps --disable-pip-version-check -r "$here/requirements.txt"
fi
"""


@dataclass(frozen=True)
class BundleResult:
    """What `package --format bundle` wrote."""

    ref: str
    digest: str
    output: str
    sha256: str
    size: int
    platform: str
    wheels: bool
    entries: int
    packages: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "bundle",
            "ref": self.ref,
            "digest": self.digest,
            "output": self.output,
            "sha256": self.sha256,
            "size": self.size,
            "platform": self.platform,
            "wheels": self.wheels,
            "entries": self.entries,
            "packages": self.packages,
        }


def build_bundle(
    store: Store,
    ref: str,
    output: Path,
    *,
    target: Platform | None = None,
    with_wheels: bool = False,
    wheelhouse: Path | None = None,
    message: str | None = None,
    note: Callable[[str], None] = lambda text: None,
) -> BundleResult:
    """Write the bundle of `ref` to `output` (atomically) and record it with the version.

    Raises UsageError for a bad output path or option, NotFoundError for an unknown ref,
    IntegrityError when the version no longer matches its registration, ExternalToolError when
    pip cannot fetch the wheels.
    """
    from mlops_cli.models.manage import verified_version
    from mlops_cli.packaging import wheels
    from mlops_cli.packaging.bundling import resolve_for_serving
    from mlops_cli.packaging.image import code_files, with_environment
    from mlops_cli.runtime.loader import check_servable
    from mlops_cli.serving.bundle import BUNDLE_FILE, bundle_text
    from mlops_cli.store.integrity import registration_event

    _check_output(output)
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise UsageError(f"--wheelhouse {wheelhouse} is not a folder")
    target = target or platforms.host()
    version = verified_version(store, ref)
    check_servable(version)
    root, describe = resolve_for_serving(store, version)
    event = registration_event(store.conn, version.ref)
    if event is None:  # verified_version has checked it exists; keep the invariant explicit
        raise MlopsError(f"{version.ref} has no registration event to carry")
    pinned = with_environment(wheels.pins(), version)  # an entry script's pins win
    requirements = [f"{name}=={ver}" for name, ver in pinned]
    entries = [
        Entry(f"{MODEL_DIR}/{f.path}", source=root / f.path, executable=bool(f.mode & 0o100))
        for f in version.files
    ]
    entries.append(Entry(f"{MODEL_DIR}/{BUNDLE_FILE}", data=bundle_text(describe(root)).encode()))
    entries += [Entry(f"app/mlops_cli/{relative}", source=path) for relative, path in code_files()]
    entries.append(Entry("requirements.txt", data=("\n".join(requirements) + "\n").encode()))
    entries.append(Entry(RECORD, data=_json_bytes(_record(event))))
    entries.append(Entry("serve.sh", data=SERVE_SH.encode(), executable=True))
    entries.append(Entry("install.sh", data=INSTALL_SH.encode(), executable=True))
    if with_wheels:
        note(f"fetching the wheels for {target} (cached in .mlops/cache/wheels)")
        found = wheels.ensure_wheels(store.paths.cache / "wheels", pinned, wheelhouse, target)
        entries += [Entry(f"wheels/{path.name}", source=path) for path in found]
    manifest = {
        "format": FORMAT,
        "platform": target.name,
        "python": wheels.PYTHON_VERSION,
        "model_dir": MODEL_DIR,
        "version": {
            "ref": version.ref,
            "name": version.name,
            "version": version.version,
            "digest": version.digest,
            "framework": version.framework,
            "files": [
                {"path": f.path, "size": f.size, "mode": f"{f.mode:o}", "digest": f.digest}
                for f in sorted(version.files, key=lambda f: f.path)
            ],
        },
        "entries": {e.path: _entry_digest(e) for e in sorted(entries, key=lambda e: e.path)},
    }
    entries.append(Entry(MANIFEST, data=_json_bytes(manifest)))
    try:
        write_tarball(output, entries)
    except OSError as exc:
        raise MlopsError(f"cannot write {output}: {exc.strerror or exc}") from exc
    sha256, size = _file_digest(output)
    jobs.add_artifact(
        store.conn,
        ModelRef.parse(version.ref),
        "bundle",
        output.name,
        f"sha256:{sha256}",
        {"platform": target.name, "wheels": with_wheels, "size": size, "packages": requirements},
        provenance(message),
    )
    return BundleResult(
        version.ref,
        version.digest,
        str(output),
        sha256,
        size,
        target.name,
        with_wheels,
        len(entries),
        requirements,
    )


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder", hint="give a file name such as model.tar.gz")
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: the folder {output.parent} does not exist")


def _record(event: AuditEvent) -> dict[str, Any]:
    """The registration event as verify needs it: the chained fields and both hashes."""
    return {**event.chained_fields(), "prev_hash": event.prev_hash, "hash": event.hash}


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _entry_digest(entry: Entry) -> dict[str, Any]:
    if entry.data is not None:
        return {"sha256": hashlib.sha256(entry.data).hexdigest(), "size": len(entry.data)}
    assert entry.source is not None
    sha256, size = _file_digest(entry.source)
    return {"sha256": sha256, "size": size}


def _file_digest(path: Path) -> tuple[str, int]:
    from mlops_cli.hashing import sha256_file

    digest, size = sha256_file(path)
    return digest.split(":", 1)[1], size
