"""The README stays a short front page: every command once in its table, with a link to a page
that exists, and every environment variable the code or the tests read in its table."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_cli.cli.reference import command as root_command

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
# A link cell then a description cell: | [`mlops models list`](docs/commands/models.md) | ... |
ROW = re.compile(r"^\| \[`(mlops [^`]+)`\]\(([^)#]+)(#[^)]*)?\) \|", re.M)
# Names that are not settings: a test's deliberately unset variable, a value a test passes through.
NOT_SETTINGS = {"MLOPS_TEST_UNSET_KEY", "MLOPS_DEPLOY_TEST"}


def _leaf_commands(command, path):
    """Every visible command of the click tree Typer builds, as `mlops a b`."""
    if hasattr(command, "list_commands"):
        ctx = command.context_class(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if not sub.hidden:
                yield from _leaf_commands(sub, (*path, name))
    else:
        yield " ".join(path)


def test_the_readme_is_short():
    assert len(README.splitlines()) <= 250


def test_every_command_is_in_the_table_once_with_a_link_to_a_page_that_exists():
    rows = ROW.findall(README)
    listed = [name for name, _, _ in rows]
    commands = sorted(_leaf_commands(root_command, ("mlops",)))
    assert sorted(set(listed)) == commands, "the README's command table and the app differ"
    assert len(listed) == len(set(listed)), "a command is listed twice"
    for name, target, _ in rows:
        assert (REPO / target).is_file(), f"{name} links to {target}, which does not exist"


def test_every_environment_variable_read_is_in_the_table():
    sources = [
        *(REPO / "mlops_cli").rglob("*.py"),
        *(REPO / "tests").rglob("*.py"),
        *(REPO / "scripts").glob("*.sh"),
    ]
    read = set()
    for path in sources:
        read |= set(re.findall(r"""["'{$](MLOPS_[A-Z0-9_]+)""", path.read_text()))
    table = README.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    missing = sorted(name for name in read - NOT_SETTINGS if not re.search(rf"`{name}(=[^`]*)?`", table))
    assert not missing, f"not in the README's environment-variable table: {missing}"


def test_the_docs_home_carries_the_same_quick_start():
    block = re.compile(r"## Quick start\n.*?(```sh\n.*?```)", re.S)
    home = (REPO / "docs" / "index.md").read_text()
    assert block.search(README).group(1) == block.search(home).group(1)


def test_every_link_reaches_a_page_and_its_heading():
    from markdown.extensions.toc import slugify

    for target, anchor in re.findall(r"\]\(((?:docs/)[^)#]+)(?:#([^)]*))?\)", README):
        page = REPO / target
        assert page.is_file(), f"the README links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
            assert anchor in {slugify(h, "-") for h in headings}, f"{target} has no heading #{anchor}"
