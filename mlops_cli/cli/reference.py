"""The click command behind `mlops`, for the generated CLI reference (docs/reference/cli.md).

mkdocs-click documents a click command found by module and attribute; Typer builds that
command from the app, so every option, default and help text in the reference is the code's.
Only the docs build and its test import this module.
"""

from __future__ import annotations

import typer.main

from mlops_cli.cli.app import app

command = typer.main.get_command(app)
