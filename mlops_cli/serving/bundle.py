"""A model bundle: the folder a server loads, with the version's files and `mlops-serving.json`.

`mlops serve` writes one from the store; `mlops package` copies one into the image. The JSON
names the model, its version and digest, the ONNX file to load and the stored signature, so
the server needs nothing else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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

    @property
    def model_path(self) -> Path:
        return self.root / self.model_file

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("root")
        return data


def write_bundle_file(bundle: Bundle) -> Path:
    path = bundle.root / BUNDLE_FILE
    path.write_text(json.dumps(bundle.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def read_bundle(root: Path) -> Bundle:
    """The bundle in `root`; ValueError with a readable message when it is missing or broken."""
    root = Path(root)
    path = root / BUNDLE_FILE
    try:
        data = json.loads(path.read_text())
        return Bundle(
            root=root,
            name=data["name"],
            version=int(data["version"]),
            digest=data["digest"],
            model_file=data["model_file"],
            signature=data.get("signature") or {},
            git_commit=data.get("git_commit"),
        )
    except FileNotFoundError:
        raise ValueError(f"{root} is not a model bundle: {BUNDLE_FILE} is missing") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid bundle file: {exc}") from None
