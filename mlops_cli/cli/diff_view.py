"""The human rendering of `mlops models diff`: one short section per kind of change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.cli.output import short_digest

if TYPE_CHECKING:
    from rich.console import Console


def _mapping_lines(section: dict[str, Any], prefix: str = "") -> list[str]:
    lines = [f"  + {prefix}{k}: {v}" for k, v in section.get("added", {}).items()]
    lines += [f"  - {prefix}{k}: {v}" for k, v in section.get("removed", {}).items()]
    lines += [f"  ~ {prefix}{k}: {c['from']} -> {c['to']}" for k, c in section.get("changed", {}).items()]
    return lines


def render_diff(result: dict[str, Any], console: Console) -> None:
    say = lambda text: console.print(text, markup=False)  # noqa: E731
    say(f"{result['a']} -> {result['b']}" + (" (same files)" if result["identical_files"] else ""))
    files = result["files"]
    lines = [f"  + {p}" for p in files["added"]] + [f"  - {p}" for p in files["removed"]]
    lines += [
        f"  ~ {c['path']}: {short_digest(c['from'])} -> {short_digest(c['to'])}" for c in files["changed"]
    ]
    _section(say, f"files ({files['unchanged']} unchanged)", lines)
    signature = result["signature"]
    _section(
        say,
        "signature",
        _mapping_lines(signature["inputs"], "input ") + _mapping_lines(signature["outputs"], "output "),
    )
    _section(say, "tags", _mapping_lines(result["tags"]))
    _section(say, "lineage", [f"  ~ {k}: {c['from']} -> {c['to']}" for k, c in result["lineage"].items()])
    env = result["environment"]
    if env.get("same") is None:
        _section(say, "environment", [f"  not recorded for {'A' if not env['recorded'][0] else 'B'}"])
        return
    lines = [
        f"  ~ {k}: {env[k]['from']} -> {env[k]['to']}"
        for k in ("python", "implementation", "platform", "machine")
        if k in env
    ]
    lines += [f"  + {d}" for d in env.get("added", [])] + [f"  - {d}" for d in env.get("removed", [])]
    lines += [f"  ~ {c['name']}: {c['from']} -> {c['to']}" for c in env.get("changed", [])]
    _section(say, "environment", lines)


def _section(say, title: str, lines: list[str]) -> None:
    say(f"\n{title}" + ("" if lines else ": no change"))
    for line in lines:
        say(line)
