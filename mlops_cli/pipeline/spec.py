"""Reading `pipeline.yaml` into steps, refusing anything malformed with its line number.

The YAML is composed into nodes (not loaded into plain values) so that every error can say
`pipeline.yaml:12: step 'train': ...`: a user fixes the line, not a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.errors import NotFoundError, UsageError

DEFAULT_FILE = "pipeline.yaml"
DEFAULT_PARAMS = "params.yaml"  # DVC's default params file
STEP_KEYS = ("cmd", "deps", "params", "outs", "register", "convert", "profile", "desc")
REGISTER_KEYS = ("name", "from", "tags", "alias", "description")


@dataclass(frozen=True)
class RegisterSpec:
    """Register a step's out as a model version once the step succeeded."""

    name: str
    source: str  # `from:` an out of the step (a file or folder)
    tags: dict[str, str] = field(default_factory=dict)
    alias: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class StepSpec:
    name: str
    cmd: str
    line: int
    deps: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()  # (params file, dotted key)
    outs: tuple[str, ...] = ()
    register: RegisterSpec | None = None
    convert: dict[str, Any] | None = None  # options of `mlops convert` for what it registered
    profile: dict[str, Any] | None = None  # options of `mlops profile` for what it registered


@dataclass(frozen=True)
class PipelineSpec:
    path: Path  # the pipeline.yaml
    steps: dict[str, StepSpec]

    @property
    def root(self) -> Path:
        """Paths in the file are relative to its folder, as in DVC."""
        return self.path.parent


def split_arguments(arguments: list[str]) -> tuple[Path, list[str]]:
    """`[pipeline.yaml] [STEP ...]`: the first argument is the file when it names a YAML file
    or an existing file; everything else names steps."""
    if arguments and (arguments[0].endswith((".yaml", ".yml")) or Path(arguments[0]).is_file()):
        return Path(arguments[0]), arguments[1:]
    return Path(DEFAULT_FILE), list(arguments)


def load_spec(path: Path) -> PipelineSpec:
    """Parse and validate a pipeline file; UsageError (exit 2) naming the line when it is wrong."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"{path}: no such pipeline file", hint="create pipeline.yaml or name one"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark else path.name
        raise UsageError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    reader = _Reader(path.name)
    if root is None:
        raise UsageError(f"{path.name}:1: the pipeline is empty", hint="add `steps:` with at least one step")
    top = reader.mapping(root, "the pipeline")
    unknown = set(top) - {"steps", "stages", "params"}
    for key in sorted(unknown):
        reader.fail(top[key][0], f"unknown top-level key {key!r} (expected steps and optionally params)")
    steps_key = "steps" if "steps" in top else "stages" if "stages" in top else None
    if steps_key is None:
        raise UsageError(f"{path.name}:1: no `steps:` in the pipeline")
    params_file = DEFAULT_PARAMS
    if "params" in top:
        params_file = reader.string(top["params"][1], "top-level `params` (the params file)")
    steps_node = top[steps_key][1]
    steps: dict[str, StepSpec] = {}
    for name, (key_node, value_node) in reader.mapping(steps_node, f"`{steps_key}`").items():
        _check_step_name(reader, key_node, name)
        steps[name] = _step(reader, name, value_node, params_file)
    if not steps:
        reader.fail(steps_node, f"`{steps_key}` has no step")
    return PipelineSpec(path.absolute(), steps)


def _check_step_name(reader: _Reader, node: Any, name: str) -> None:
    if not name or any(c in name for c in " /:\\") or name.startswith("-"):
        reader.fail(node, f"invalid step name {name!r} (no spaces, slashes or colons)")


def _step(reader: _Reader, name: str, node: Any, params_file: str) -> StepSpec:
    where = f"step {name!r}"
    fields = reader.mapping(node, where)
    for key in sorted(set(fields) - set(STEP_KEYS)):
        reader.fail(fields[key][0], f"{where}: unknown key {key!r} (expected one of {', '.join(STEP_KEYS)})")
    if "cmd" not in fields:
        reader.fail(node, f"{where}: no `cmd`")
    cmd_node = fields["cmd"][1]
    if cmd_node.id == "sequence":  # DVC allows a list of commands, run one after another
        cmd = " && ".join(reader.string_list(cmd_node, f"{where}: `cmd`"))
    else:
        cmd = reader.string(cmd_node, f"{where}: `cmd`")
    if not cmd.strip():
        reader.fail(cmd_node, f"{where}: `cmd` is empty")
    deps = _paths(reader, fields, "deps", where)
    outs = _paths(reader, fields, "outs", where)
    params = _params(reader, fields.get("params"), where, params_file)
    register = _register(reader, fields.get("register"), where, outs)
    extra = {}
    for key in ("convert", "profile"):
        if key in fields:
            if register is None:
                reader.fail(
                    fields[key][0], f"{where}: `{key}` needs `register` (it acts on what was registered)"
                )
            extra[key] = reader.options(fields[key][1], f"{where}: `{key}`")
    return StepSpec(
        name=name,
        cmd=cmd,
        line=node.start_mark.line + 1,
        deps=deps,
        params=params,
        outs=outs,
        register=register,
        convert=extra.get("convert"),
        profile=extra.get("profile"),
    )


def _paths(reader: _Reader, fields: dict, key: str, where: str) -> tuple[str, ...]:
    if key not in fields:
        return ()
    node = fields[key][1]
    paths = reader.string_list(node, f"{where}: `{key}`")
    items = node.value if node.id == "sequence" else [node]
    for item, path in zip(items, paths, strict=True):
        if normalise(path) is None:
            reader.fail(item, f"{where}: {key} path {path!r} must be relative and stay inside the project")
    return tuple(dict.fromkeys(normalise(p) for p in paths))  # type: ignore[misc]


def normalise(path: str) -> str | None:
    """A project-relative path in one spelling (`./data/` -> `data`); None when it leaves the project."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts:
        return None
    return "/".join(parts)


def _params(reader: _Reader, entry: Any, where: str, params_file: str) -> tuple[tuple[str, str], ...]:
    """DVC's form: a list of keys of the default file, or `{file: [keys]}` items."""
    if entry is None:
        return ()
    node = entry[1]
    if node.id != "sequence":
        reader.fail(node, f"{where}: `params` must be a list of keys (or {{file: [keys]}} items)")
    found: list[tuple[str, str]] = []
    for item in node.value:
        if item.id == "mapping":
            for file, (_, keys) in reader.mapping(item, f"{where}: `params`").items():
                found += [(file, k) for k in reader.string_list(keys, f"{where}: params of {file}")]
        else:
            found.append((params_file, reader.string(item, f"{where}: a params key")))
    return tuple(dict.fromkeys(found))


def _register(reader: _Reader, entry: Any, where: str, outs: tuple[str, ...]) -> RegisterSpec | None:
    if entry is None:
        return None
    fields = reader.mapping(entry[1], f"{where}: `register`")
    for key in sorted(set(fields) - set(REGISTER_KEYS)):
        reader.fail(fields[key][0], f"{where}: `register` has unknown key {key!r}")
    for key in ("name", "from"):
        if key not in fields:
            reader.fail(entry[1], f"{where}: `register` needs `{key}`")
    source = normalise(reader.string(fields["from"][1], f"{where}: `register.from`"))
    if source is None or not any(source == o or source.startswith(o + "/") for o in outs):
        reader.fail(fields["from"][1], f"{where}: `register.from` must be one of the step's outs")
    tags = {}
    if "tags" in fields:
        tags = {k: str(v) for k, v in reader.options(fields["tags"][1], f"{where}: `register.tags`").items()}
    optional = {
        k: reader.string(fields[k][1], f"{where}: `register.{k}`")
        for k in ("alias", "description")
        if k in fields
    }
    return RegisterSpec(
        name=reader.string(fields["name"][1], f"{where}: `register.name`"),
        source=source,  # type: ignore[arg-type]
        tags=tags,
        **optional,
    )


class _Reader:
    """Typed access to composed YAML nodes; every failure names the file and line."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, node: Any, message: str):
        raise UsageError(f"{self.filename}:{node.start_mark.line + 1}: {message}")

    def mapping(self, node: Any, what: str) -> dict[str, tuple[Any, Any]]:
        if node.id != "mapping":
            self.fail(node, f"{what} must be a mapping")
        result: dict[str, tuple[Any, Any]] = {}
        for key, value in node.value:
            name = self.string(key, f"a key of {what}")
            if name in result:
                self.fail(key, f"{what}: {name!r} appears twice")
            result[name] = (key, value)
        return result

    def string(self, node: Any, what: str) -> str:
        if node.id != "scalar" or node.tag.endswith(":null"):
            self.fail(node, f"{what} must be a string")
        return str(node.value)

    def string_list(self, node: Any, what: str) -> list[str]:
        if node.id == "scalar" and not node.tag.endswith(":null"):
            return [str(node.value)]  # `deps: data.csv` as a one-item list
        if node.id != "sequence":
            self.fail(node, f"{what} must be a list of strings")
        return [self.string(item, f"an item of {what}") for item in node.value]

    def options(self, node: Any, what: str) -> dict[str, Any]:
        """`true` (defaults) or a mapping of plain values."""
        import yaml

        value = yaml.SafeLoader("").construct_document(node)
        if value is True:
            return {}
        if not isinstance(value, dict):
            self.fail(node, f"{what} must be true or a mapping of options")
        return {str(k): v for k, v in value.items()}
