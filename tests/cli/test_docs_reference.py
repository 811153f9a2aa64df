"""The generated CLI reference (docs/reference/cli.md) covers every command and option of the app.

The page is rendered the way `mkdocs build` renders it (Python-Markdown with the mkdocs-click
extension, reading the directive in the page itself), then each command of the click tree that
Typer builds is looked up by its heading, and each of its parameters in its section.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import markdown
import pytest
import typer.main

from mlops_cli.cli.app import app
from mlops_cli.cli.reference import command as reference_command

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "cli.md"


def _commands(command, path: tuple[str, ...]):
    """Every (path, command) of the tree, the root included, as click resolves them.

    Duck-typed: Typer builds its commands on its own copy of click (`typer._click`), whose
    classes are not the installed click's; mkdocs-click reads them the same way.
    """
    yield path, command
    if hasattr(command, "list_commands"):
        ctx = command.context_class(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), (*path, name))


def _sections(page_html: str) -> dict[str, str]:
    """Each heading's id -> the HTML up to the next heading."""
    parts = re.split(r'(<h[1-6] id="[^"]+")', page_html)
    pairs = zip(parts[1::2], parts[2::2], strict=True)
    return {re.search(r'id="([^"]+)"', head).group(1): body for head, body in pairs}


@pytest.fixture(scope="module")
def sections() -> dict[str, str]:
    rendered = markdown.Markdown(extensions=["attr_list", "toc", "mkdocs-click"]).convert(PAGE.read_text())
    return _sections(html.unescape(rendered))


def test_the_reference_module_is_the_apps_command_tree():
    ours = {p for p, _ in _commands(reference_command, ("mlops",))}
    fresh = {p for p, _ in _commands(typer.main.get_command(app), ("mlops",))}
    assert ours == fresh
    assert len(ours) > 20  # a tree, not the root alone


@pytest.mark.parametrize(
    "path", [p for p, c in _commands(reference_command, ("mlops",)) if not c.hidden], ids=" ".join
)
def test_every_command_and_option_is_in_the_reference(path, sections):
    command = dict(_commands(reference_command, ("mlops",)))[path]
    anchor = "-".join(path).replace("_", "-")
    assert anchor in sections, f"`{' '.join(path)}` has no section in {PAGE.relative_to(REPO)}"
    body = sections[anchor]
    assert f"{' '.join(path)} [OPTIONS]" in body  # the usage line
    ctx = command.context_class(command, info_name=path[-1])
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        option = param.param_type_name == "option"
        for opt in param.opts if option else [param.get_help_record(ctx)[0]]:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", body), f"{opt} of {' '.join(path)}"
        if param.help:
            assert " ".join(param.help.split()[:3]) in " ".join(body.split()), f"help of {param.opts}"


def test_every_top_level_command_has_a_command_page():
    """The generated reference lists options; a command page says what a command is for."""
    pages = " ".join(p.read_text() for p in (REPO / "docs" / "commands").glob("*.md"))
    ctx = reference_command.context_class(reference_command, info_name="mlops")
    missing = [
        name
        for name in reference_command.list_commands(ctx)
        if not reference_command.get_command(ctx, name).hidden and f"mlops {name}" not in pages
    ]
    assert not missing, f"no page in docs/commands/ explains: {', '.join(missing)}"
