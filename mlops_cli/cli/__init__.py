"""The terminal face: `main()` runs the Typer app and turns errors into one stderr line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (see the README for what each code means)."""
    from mlops_cli.cli.app import app

    try:
        app(args=argv, prog_name="mlops")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    """The `mlops` console script."""
    sys.exit(main())
