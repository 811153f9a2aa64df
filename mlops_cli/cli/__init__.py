"""The terminal face: `main()` runs the Typer app and turns errors into one stderr line."""

from __future__ import annotations

import signal
import sys
import threading

TERMINATED = 143  # 128 + SIGTERM, what shells report for a process ended by `kill`


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (see the README for what each code means).

    SIGTERM is handled here, once for every command: it raises `Terminated` (a
    KeyboardInterrupt) in the main thread, so the cleanup written for Ctrl-C runs, and the
    command exits 143 instead of dying with half-written temp files and "running" jobs.
    """
    from mlops_cli.cli.app import app
    from mlops_cli.cli.lazy import root_command

    terminated = threading.Event()
    previous = _install_sigterm(terminated)
    try:
        # Only the invoked command is built (lazy.py); Typer's `app()` would build all of them.
        root_command(app)(args=argv, prog_name="mlops")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return TERMINATED if terminated.is_set() and code != 0 else code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _install_sigterm(terminated: threading.Event):
    """Raise `Terminated` on the first SIGTERM; ignore repeats so the cleanup can finish."""
    if threading.current_thread() is not threading.main_thread():
        return None
    from mlops_cli.errors import Terminated

    def handler(signum: int, frame: object) -> None:
        if terminated.is_set():
            return
        terminated.set()
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def run() -> None:
    """The `mlops` console script."""
    exit_with(main())


def exit_with(code: int) -> None:
    """Exit with the command's code. The command has finished and reported: a SIGINT or SIGTERM
    arriving during the interpreter's teardown must not turn that outcome into a kill."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)
