"""`.mlops/config.yaml`: which events go to which hooks, validated with line numbers.

Parsing YAML costs an import (~10 ms); a command that emits an event must stay fast, so the
validated hooks are kept in `.mlops/cache/hooks.json`, keyed by the file's mtime and size, and
YAML is only imported when config.yaml changed. A bad hook is reported (line and problem) and
left out; the others still work, and no command ever fails because of the config.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.events.names import unknown_pattern
from mlops_cli.redaction import redact_url

CONFIG_NAME = "config.yaml"
CACHE_NAME = "hooks.json"
CACHE_FORMAT = 2  # 2: problems include unknown top-level keys
# The top-level keys of config.yaml; a feature that reads its own section adds its key here.
SECTIONS = {"hooks"}

DEFAULTS = {
    "webhook": {"timeout": 5.0, "retries": 3, "backoff": 0.5},
    "command": {"timeout": 30.0, "retries": 0, "backoff": 0.5},
}
KEYS = {"name", "events", "url", "command", "secret_env", "timeout", "retries", "backoff"}

TEMPLATE = """\
# mlops project configuration (read by every mlops command in this project).
#
# hooks: where audit events go. Every audit action is an event; `events` takes names or glob
# patterns: the action itself (register, tag, deploy.create, ...), its dotted name
# (model.registered, deploy.created, ...) or MLflow's (model_version.created); see
# `mlops audit deliveries --help` and docs/commands/audit.md for the list. Deliveries are written to an
# outbox with the event and sent after the command commits, so a slow or failing hook never
# fails a command: `mlops audit deliveries --failed` shows failures, `mlops audit deliver`
# retries them.
#
# hooks:
#   - name: ci                               # optional, shown in `mlops audit deliveries`
#     events: ["model.registered", "deploy.*"]
#     url: https://ci.example.com/mlops      # POST JSON, signed like MLflow's webhooks
#     secret_env: MLOPS_WEBHOOK_SECRET       # HMAC key read from this variable; never stored
#     timeout: 5                             # seconds per attempt
#     retries: 3                             # more attempts on 429, 5xx and network errors
#   - events: ["drift.detected"]
#     command: "python scripts/page_oncall.py"   # gets the event JSON on stdin
#     timeout: 30
hooks: []
"""


@dataclass(frozen=True)
class HookConfig:
    """One validated hook. `target` is the URL or the command line."""

    kind: str  # webhook or command
    target: str
    events: tuple[str, ...]
    name: str | None = None
    secret_env: str | None = None
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "events": list(self.events),
            "name": self.name,
            "secret_env": self.secret_env,
            "timeout": self.timeout,
            "retries": self.retries,
            "backoff": self.backoff,
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HookConfig:
        return cls(**{**data, "events": tuple(data["events"])})

    @property
    def label(self) -> str:
        """How messages name the hook: never with the credentials a URL may hold."""
        return self.name or (redact_url(self.target) if self.kind == "webhook" else self.target)


@dataclass(frozen=True)
class Config:
    hooks: tuple[HookConfig, ...] = ()
    problems: tuple[str, ...] = field(default=())


def config_path(store_root: Path) -> Path:
    return store_root / CONFIG_NAME


def write_default(store_root: Path) -> bool:
    """Create the commented config.yaml (no hooks) unless one exists; return whether it did."""
    path = config_path(store_root)
    if path.exists():
        return False
    path.write_text(TEMPLATE)
    return True


def load(store_root: Path) -> Config:
    """The validated hooks of a store (no config.yaml: none), through the JSON cache."""
    path = config_path(store_root)
    try:
        st = path.stat()
    except FileNotFoundError:
        return Config()
    stamp = [st.st_mtime_ns, st.st_size]
    cache = store_root / "cache" / CACHE_NAME
    try:
        cached = json.loads(cache.read_text())
        if cached.get("format") == CACHE_FORMAT and cached.get("stamp") == stamp:
            return Config(tuple(HookConfig.from_dict(h) for h in cached["hooks"]), tuple(cached["problems"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache or an old one: parse the YAML
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        return Config(problems=(f"{path}: cannot read: {exc}; no hooks run",))
    config = parse(text, str(path))
    try:
        cache.parent.mkdir(exist_ok=True)
        temp = cache.with_name(f"{os.getpid()}-{CACHE_NAME}.tmp")
        # A copy of config.yaml's URLs, credentials included: readable by the owner only.
        with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(
                json.dumps(
                    {
                        "format": CACHE_FORMAT,
                        "stamp": stamp,
                        "hooks": [h.to_dict() for h in config.hooks],
                        "problems": list(config.problems),
                    }
                )
            )
        os.replace(temp, cache)
    except OSError:
        pass  # a read-only store: parse again next time
    return config


def parse(text: str, where: str = CONFIG_NAME) -> Config:
    """Validate config.yaml's text; every problem names the line and what is wrong."""
    import yaml  # only when config.yaml changed since it was last validated

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return Config(problems=(f"{where}{line}: invalid YAML: {problem}; no hooks run until it is fixed",))
    if root is None:
        return Config()
    if not isinstance(root, yaml.MappingNode):
        return Config(
            problems=(
                f"{where} line {root.start_mark.line + 1}: expected a mapping with `hooks:`; no hooks run",
            )
        )
    problems: list[str] = []
    hooks: list[HookConfig] = []
    for key, value in root.value:
        if key.value not in SECTIONS:
            problems.append(
                f"{where} line {key.start_mark.line + 1}: unknown top-level key {key.value!r}"
                f" (known: {', '.join(sorted(SECTIONS))}); ignored"
            )
            continue
        if key.value != "hooks":
            continue  # another feature's section
        if isinstance(value, yaml.ScalarNode) and value.value in ("", "null", "~"):
            continue
        if not isinstance(value, yaml.SequenceNode):
            problems.append(f"{where} line {value.start_mark.line + 1}: `hooks` must be a list; no hooks run")
            continue
        for number, node in enumerate(value.value, start=1):
            hook, hook_problems = _hook(node, number, where)
            problems += hook_problems
            if hook is not None:
                hooks.append(hook)
    return Config(tuple(hooks), tuple(problems))


def _hook(node: Any, number: int, where: str) -> tuple[HookConfig | None, list[str]]:
    import yaml

    line = node.start_mark.line + 1
    at = f"{where} line {line}: hook {number}"
    if not isinstance(node, yaml.MappingNode):
        return None, [f"{at}: expected a mapping with `events` and `url` or `command`; hook ignored"]
    problems: list[str] = []
    fields: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value in node.value:
        lines[key.value] = value.start_mark.line + 1
        if key.value not in KEYS:
            key_line = key.start_mark.line + 1
            problems.append(f"{where} line {key_line}: hook {number}: unknown key {key.value!r}; key ignored")
            continue
        try:
            fields[key.value] = yaml.safe_load(yaml.serialize(value))
        except yaml.YAMLError as exc:  # a value that does not survive the round trip (a bare `name:`)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return None, [*problems, f"{at}: `{key.value}` cannot be read ({problem}); hook ignored"]
    kind = "webhook" if "url" in fields else "command" if "command" in fields else None
    if kind is None or ("url" in fields and "command" in fields):
        return None, [*problems, f"{at}: give exactly one of `url` or `command`; hook ignored"]
    target = fields[kind if kind == "command" else "url"]
    if not isinstance(target, str) or not target.strip():
        return None, [
            *problems,
            f"{at}: `{'url' if kind == 'webhook' else 'command'}` must be a string; hook ignored",
        ]
    if kind == "webhook":
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            where_url = f"{where} line {lines['url']}: hook {number}"
            shown = redact_url(target)
            return None, [*problems, f"{where_url}: url {shown!r} is not an http(s) URL; hook ignored"]
    events = fields.get("events")
    if isinstance(events, str):
        events = [events]
    if not events or not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return None, [*problems, f"{at}: `events` must be a list of event names or patterns; hook ignored"]
    good = []
    for pattern in events:
        if unknown_pattern(pattern):
            problems.append(
                f"{where} line {lines['events']}: hook {number}: unknown event {pattern!r}"
                " (see the event names in docs/commands/audit.md); pattern ignored"
            )
        else:
            good.append(pattern)
    if not good:
        return None, [*problems, f"{at}: no known event to listen to; hook ignored"]
    defaults = DEFAULTS[kind]
    numbers: dict[str, Any] = {}
    for key, cast, minimum in (("timeout", float, 0.001), ("retries", int, 0), ("backoff", float, 0)):
        value = fields.get(key, defaults[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            problems.append(
                f"{where} line {lines[key]}: hook {number}: `{key}` must be a number >= {minimum:g};"
                f" {defaults[key]:g} used"
            )
            value = defaults[key]
        numbers[key] = cast(value)
    secret_env = fields.get("secret_env")
    if secret_env is not None and (kind != "webhook" or not isinstance(secret_env, str) or not secret_env):
        # Never fall back to unsigned deliveries when signing was asked for.
        where_secret = f"{where} line {lines['secret_env']}: hook {number}"
        return None, [
            *problems,
            f"{where_secret}: `secret_env` must name a variable, for a url; hook ignored",
        ]
    name = fields.get("name")
    return (
        HookConfig(
            kind=kind,
            target=target,
            events=tuple(good),
            name=str(name) if name is not None else None,
            secret_env=secret_env,
            line=line,
            **numbers,
        ),
        problems,
    )
