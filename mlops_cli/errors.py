"""The one error root. Domain code raises these; only the CLI prints them and exits.

Each class carries the exit code the README documents, so every command exits alike.
"""

from __future__ import annotations


class MlopsError(Exception):
    """A failure a user can act on: `message` says what went wrong, `hint` what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MlopsError):
    """Input that can never work: a bad name, a malformed KEY=VALUE, a bad option mix."""

    exit_code = 2


class NotFoundError(MlopsError):
    """A model, version, alias, file or job that does not exist."""

    exit_code = 1


class StoreNotFoundError(MlopsError):
    """No `.mlops/` store could be found or opened."""

    exit_code = 3


class StoreError(MlopsError):
    """The store cannot be used: newer schema, read-only filesystem, disk full, corrupt data."""

    exit_code = 1


class ExternalToolError(MlopsError):
    """An external tool (docker, kubectl, a converter) failed or is missing."""

    exit_code = 4


class RemoteError(MlopsError):
    """A remote (a shared folder or bucket) cannot be reached, read or written: a missing folder,
    a refused connection, missing or rejected credentials. Exit 4, like an external tool."""

    exit_code = 4


class VersionConflictError(MlopsError):
    """A push that would overwrite what a remote already holds: NAME:N there has another digest.

    Exit 6, "busy or conflict": someone else got there first; nothing was overwritten.
    """

    exit_code = 6


class BusyError(MlopsError):
    """Another process holds the lock this command needs (a deploy of the same deployment):
    nothing was changed; running it again once the other one finished is safe."""

    exit_code = 6


class MissingDependencyError(MlopsError):
    """An optional extra is not installed; the hint names the pip command to run."""

    exit_code = 1

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the Python package '{module}', which is not installed",
            hint=f"pip install 'mlops-cli[{extra}]'",
        )


class CheckFailedError(MlopsError):
    """A check ran and failed: parity, drift, audit verification. `report` holds the details."""

    exit_code = 5

    def __init__(self, message: str, hint: str | None = None, report: object = None) -> None:
        super().__init__(message, hint)
        self.report = report


class IntegrityError(CheckFailedError):
    """The store is damaged or was tampered with: an unreadable, empty or corrupt database, a
    row that no longer matches the audit trail, a blob that no longer matches its digest.

    Always exit 5, like every failed check: a damaged store must never look intact.
    """


class RevisionRefusedError(CheckFailedError):
    """A new deployment revision failed its gate (never ready, smoke inference failed, crashed,
    port taken): it was removed and the previous revision kept serving. `log_tail` holds the
    new revision's last log lines; its whole log stays in the deployment's folder."""

    def __init__(self, message: str, hint: str | None = None, log_tail: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail or []


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, systemd, CI cancellation, `docker stop`) turned into an exception.

    A KeyboardInterrupt, so every cleanup written for Ctrl-C runs for it too (temp files
    removed, a batch job marked interrupted and resumable); the CLI exits 143 (128 + 15).
    """
