"""A model bundle: what a server loads, described by one `mlops-serving.json` file.

The JSON names the model, its version and digest, the ONNX file to load (relative to the
bundle's root) and the stored signature, so the server needs nothing else. In an image the
JSON sits in /model beside the files; for `mlops serve` it sits in the store's cache and its
`root` points at the version's verified files.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.relpaths import path_problem

BUNDLE_FILE = "mlops-serving.json"


@dataclass(frozen=True)
class Bundle:
    root: Path
    name: str
    version: int
    digest: str
    model_file: str
    signature: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    # An entry-script version: how to run its script (metadata["entry"] of the version).
    entry: dict[str, Any] | None = None

    @property
    def model_path(self) -> Path:
        return self.root / self.model_file

    def to_json(self, with_root: bool = False) -> dict[str, Any]:
        data = asdict(self)
        root = data.pop("root")
        if with_root:
            data["root"] = str(root)
        return data


def bundle_text(bundle: Bundle, with_root: bool = False) -> str:
    """The bundle's JSON as it is written: sorted keys, so the same bundle gives the same bytes."""
    return json.dumps(bundle.to_json(with_root=with_root), indent=2, sort_keys=True, default=str) + "\n"


def write_bundle_file(bundle: Bundle, path: Path | None = None) -> Path:
    """Write the JSON into the bundle's root, or to `path` with the root recorded in it."""
    target = path or bundle.root / BUNDLE_FILE
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(bundle_text(bundle, with_root=path is not None))
    tmp.replace(target)
    return target


def read_bundle(location: Path | str) -> Bundle:
    """The bundle in a folder (its `mlops-serving.json`) or a bundle JSON file.

    ValueError with a readable message when it is missing or broken.
    """
    location = Path(location)
    path = location / BUNDLE_FILE if location.is_dir() else location
    try:
        data = json.loads(path.read_text())
        # An Azure-form entry script loads its own model: its bundle names no graph ("").
        own_model = data["model_file"] == "" and data.get("entry")
        problem = None if own_model else path_problem(data["model_file"])
        if problem is not None:
            raise ValueError(f"model_file {data['model_file']!r} is not a plain relative path: {problem}")
        return Bundle(
            root=Path(data["root"]) if data.get("root") else path.parent,
            name=data["name"],
            version=int(data["version"]),
            digest=data["digest"],
            model_file=data["model_file"],
            signature=data.get("signature") or {},
            git_commit=data.get("git_commit"),
            entry=data.get("entry"),
        )
    except FileNotFoundError:
        raise ValueError(f"{location} is not a model bundle: {path.name} is missing") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid bundle file: {exc}") from None
