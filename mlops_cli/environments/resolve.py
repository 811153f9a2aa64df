"""An environment's requirements resolved to the exact packages pip would install.

`pip install --dry-run --ignore-installed --report` resolves against the package index (or
the host's configured index and wheel cache) without installing anything; the report's
`name==version` list is the pinned set a version always runs with.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.environments.pip import PipFailedError, run_pip
from mlops_cli.environments.spec import EnvironmentSpec, normalise
from mlops_cli.errors import UsageError

_UNAVAILABLE = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the requirement)"
    r"\s+([A-Za-z0-9][A-Za-z0-9._-]*)"
)


@dataclass(frozen=True)
class PinnedEnvironment:
    """The resolved set: `name==version` lines, sorted, and the Python they are for."""

    python: str
    pinned: tuple[str, ...]

    @property
    def digest(self) -> str:
        """Names the environment: two versions with the same packages share one venv."""
        text = json.dumps({"python": self.python, "pinned": list(self.pinned)}, sort_keys=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def lock_text(self) -> str:
        return f"# python {self.python}\n" + "".join(f"{line}\n" for line in self.pinned)

    def to_dict(self) -> dict:
        return {"python": self.python, "pinned": list(self.pinned), "digest": self.digest}


def resolve(spec: EnvironmentSpec) -> PinnedEnvironment:
    """Pin every package `spec` needs; UsageError naming the file and line of one pip lacks."""
    if not spec.requirements:
        return PinnedEnvironment(spec.python, ())
    with tempfile.TemporaryDirectory(prefix="mlops-resolve-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{r.text}\n" for r in spec.requirements))
        report = Path(tmp) / "report.json"
        try:
            run_pip(
                [
                    "install",
                    "--dry-run",
                    "--ignore-installed",
                    "--quiet",
                    "--only-binary=:all:",
                    "--report",
                    str(report),
                    "-r",
                    str(requirements),
                ]
            )
        except PipFailedError as exc:
            raise _explain(spec, exc) from None
        installs = json.loads(report.read_text()).get("install", [])
    pinned = sorted(f"{normalise(i['metadata']['name'])}=={i['metadata']['version']}" for i in installs)
    return PinnedEnvironment(spec.python, tuple(pinned))


def _explain(spec: EnvironmentSpec, failure: PipFailedError) -> Exception:
    match = _UNAVAILABLE.search(failure.stderr)
    if match is None:
        return failure
    name = match.group(1)
    line = spec.line_of(name)
    where = f"{spec.path}:{line}" if line else str(spec.path)
    return UsageError(
        f"{where}: no installable wheel of {name} matches (not on the package index, or no"
        f" build for Python {spec.python})",
        hint="check the name and version; conda-only packages cannot be used",
    )
