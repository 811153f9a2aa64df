"""Reading an entry script without running it: which contract it implements.

Two forms: Azure ML's `init()` + `run(raw_data)`, and hooks around an ONNX graph,
`preprocess(request)` and/or `postprocess(outputs, request)` (with an optional `init()`).
The script is parsed with `ast`; nothing in it is imported or executed at registration.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import UsageError

AZURE = "azure"
HOOKS = "hooks"


@dataclass(frozen=True)
class EntryContract:
    """The form an entry script implements and the module-level functions it defines."""

    form: str  # AZURE or HOOKS
    functions: tuple[str, ...]


def read_contract(path: Path) -> EntryContract:
    """The script's contract; UsageError naming the file (and line) when it has none."""
    if not path.is_file():
        raise UsageError(f"{path}: no such entry script")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the entry script: {exc.strerror or exc}") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno or 1}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise UsageError(f"{path}: not a Python source file: {exc}") from None
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= _assigned_names(tree)
    functions = tuple(n for n in ("init", "run", "preprocess", "postprocess") if n in defined)
    if "run" in defined:
        if "init" not in defined:
            raise UsageError(
                f"{path}: defines run() but no init(); an Azure-style entry script needs both",
                hint="add `def init():` that loads the model (it may do nothing)",
            )
        if "preprocess" in defined or "postprocess" in defined:
            raise UsageError(
                f"{path}: defines run() and preprocess()/postprocess(); choose one contract",
            )
        return EntryContract(AZURE, functions)
    if "preprocess" in defined or "postprocess" in defined:
        return EntryContract(HOOKS, functions)
    raise UsageError(
        f"{path}: defines neither run() (with init()) nor preprocess()/postprocess()",
        hint="see docs/commands/entry-scripts.md for the two contracts",
    )


def _assigned_names(tree: ast.Module) -> set[str]:
    """Module-level `run = ...` (a decorated or wrapped callable) counts as defining it."""
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names
