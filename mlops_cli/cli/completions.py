"""The shell completion scripts shipped in completions/ (`make completions` writes them).

Typer has no public call that renders a script for a named shell (`--show-completion`
detects the current one), so this uses the helper behind that option.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    """The script for `shell`; at TAB time it asks `mlops` itself for candidates."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="mlops", complete_var="_MLOPS_COMPLETE", shell=shell)
    return script.strip() + "\n"


def write_all(folder: str) -> None:
    from pathlib import Path

    for shell in SHELLS:
        (Path(folder) / f"mlops.{shell}").write_text(completion_script(shell))


if __name__ == "__main__":
    import sys

    write_all(sys.argv[1] if len(sys.argv) > 1 else "completions")
