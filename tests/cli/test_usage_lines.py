"""Usage lines read as POSIX usage does (`REF`, `[REF]`, `REF [REF]...`), never Typer's `{REF}`:
braces mean "one of these" in every usage convention, and the reference page shows the same."""

from __future__ import annotations

import html
from pathlib import Path

import markdown
import pytest

from tests.cli.test_app import ALL_COMMANDS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_usage_line_has_no_braces(cli, command):
    result = cli(*command.split(), "--help")
    (usage,) = [line for line in result.stdout.splitlines() if line.startswith("Usage:")]
    assert "{" not in usage and "}" not in usage, usage


@pytest.fixture(scope="module")
def reference() -> str:
    return html.unescape(
        markdown.Markdown(extensions=["attr_list", "toc", "mkdocs-click"]).convert(PAGE.read_text())
    )


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("serve", "mlops serve [OPTIONS] REF [REF]..."),
        ("convert", "mlops convert [OPTIONS] REF"),
        ("score-batch", "mlops score-batch [OPTIONS] [REF]"),
        ("push", "mlops push [OPTIONS] [REF]..."),
        ("models tag", "mlops models tag [OPTIONS] REF KEY=VALUE [KEY=VALUE]..."),
        ("models diff", "mlops models diff [OPTIONS] A B"),
        ("pipeline run", "mlops pipeline run [OPTIONS] [PIPELINE.yaml] [STEP]..."),
    ],
)
def test_usage_lines_in_help_and_in_the_reference(cli, reference, command, usage):
    assert f"Usage: {usage}" in cli(*command.split(), "--help").stdout
    assert usage in reference


def test_a_missing_argument_still_names_it(cli):
    result = cli("convert")
    assert result.exit_code == 2 and "REF" in result.stderr and "{" not in result.stderr
