"""The kubectl runner: every call to a cluster goes through here (STYLE rule 8).

Commands are argv lists (never a shell) carrying `--kubeconfig`/`--context`/`--namespace` the
same way every time, with a timeout. A failure becomes a KubectlError (ExternalToolError, exit 4)
whose message is kubectl's one useful line, not its client-go log noise; kubectl missing, an
unknown context and an unreachable cluster each get their own message and hint, because those
are what a user fixes differently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mlops_cli.errors import ExternalToolError

KUBECTL = "kubectl"
DEFAULT_TIMEOUT = 60.0
# client-go's own log lines ("E1205 07:36:26.148218   18908 memcache.go:265] ..."): noise for a user.
KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]")
UNREACHABLE = (
    "was refused",
    "unable to connect to the server",
    "connection refused",
    "no such host",
    "i/o timeout",
    "tls handshake timeout",
    "no route to host",
    "failed to download openapi",
    "couldn't get current server api group list",
)
INSTALL_HINT = "install kubectl (https://kubernetes.io/docs/tasks/tools/) and put it on PATH"


class KubectlError(ExternalToolError):
    """kubectl ran and failed; `argv`, `returncode` and the cleaned `stderr` say how."""

    def __init__(
        self, message: str, argv: Sequence[str], returncode: int | None, stderr: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr

    @property
    def not_found(self) -> bool:
        """The object asked for does not exist (`Error from server (NotFound)`), as opposed to
        kubectl or the cluster failing."""
        return "(NotFound)" in self.stderr


class KubectlMissingError(ExternalToolError):
    """No kubectl on PATH."""


class ContextNotFoundError(KubectlError):
    """The kubeconfig has no context of the name given with --context."""


class ClusterUnreachableError(KubectlError):
    """kubectl found its configuration but the API server did not answer."""


def useful_lines(stderr: str) -> list[str]:
    """kubectl's stderr without client-go log lines and blank lines."""
    return [line.strip() for line in stderr.splitlines() if line.strip() and not KLOG_LINE.match(line)]


def useful_line(stderr: str) -> str:
    """The line a user should read: the first `error:`/`Error from server` line, else the last."""
    lines = useful_lines(stderr)
    for line in lines:
        lowered = line.lower()
        if lowered.startswith(("error:", "error from server", "error in configuration", "the connection")):
            return line
    if lines:
        return lines[-1]
    noise = [line for line in stderr.splitlines() if line.strip()]  # only log lines: the last one
    return noise[-1].strip() if noise else "no output on stderr"


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to one kubeconfig, context and namespace (each optional: kubectl's defaults)."""

    context: str | None = None
    kubeconfig: str | None = None
    namespace: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def argv(self, *args: str) -> list[str]:
        """The full command line, starting with `kubectl`, as it is run and as a plan shows it."""
        argv = [KUBECTL]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        if self.namespace:
            argv += ["--namespace", self.namespace]
        return [*argv, *args]

    def run(self, *args: str, input: str | None = None, timeout: float | None = None) -> str:
        """Run kubectl with `args` (and `input` on stdin); returns stdout.

        Raises KubectlMissingError, ContextNotFoundError, ClusterUnreachableError or KubectlError.
        """
        argv = self.argv(*args)
        limit = timeout if timeout is not None else self.timeout
        try:
            done = subprocess.run(
                [_binary(), *argv[1:]],
                input=input,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise KubectlError(
                f"`kubectl {_verb(args)}` did not finish within {limit:.0f}s",
                argv,
                None,
                "",
                hint="is the cluster reachable? `kubectl cluster-info` tells",
            ) from None
        if done.returncode != 0:
            raise self.failure(argv, done.returncode, done.stderr)
        return done.stdout

    def run_json(self, *args: str, timeout: float | None = None) -> dict:
        """`kubectl ARGS -o json`, parsed."""
        import json

        text = self.run(*args, "-o", "json", timeout=timeout)
        try:
            return json.loads(text)
        except ValueError:
            raise KubectlError(
                f"`kubectl {_verb(args)}` did not print JSON: {text[:200]!r}", self.argv(*args), 0, ""
            ) from None

    def stream(self, *args: str) -> Iterator[str]:
        """Run kubectl and yield its stdout line by line (for `logs --follow`); no timeout.

        Closing the iterator (Ctrl-C, the caller stops reading) stops kubectl. Raises as `run`
        does when kubectl exits non-zero.
        """
        argv = self.argv(*args)
        # stderr goes to a file, not a pipe: a pipe nobody reads could fill up and stall kubectl.
        with tempfile.TemporaryFile(mode="w+") as errors:
            process = subprocess.Popen(
                [_binary(), *argv[1:]], stdout=subprocess.PIPE, stderr=errors, text=True, bufsize=1
            )
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    yield line.rstrip("\n")
                returncode = process.wait()
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            if returncode != 0:
                errors.seek(0)
                raise self.failure(argv, returncode, errors.read())

    def failure(self, argv: Sequence[str], returncode: int, stderr: str) -> KubectlError:
        """The error for a failed run, classified so the user gets the right hint."""
        line = useful_line(stderr)
        lowered = stderr.lower()
        verb = _verb(argv[len(self.argv()) :])
        if "context was not found" in lowered or "no context exists with the name" in lowered:
            return ContextNotFoundError(
                f"kubectl has no context {self.context!r}" if self.context else f"kubectl: {line}",
                argv,
                returncode,
                stderr,
                hint="`kubectl config get-contexts` lists the contexts of your kubeconfig",
            )
        if any(marker in lowered for marker in UNREACHABLE):
            where = f" (context {self.context!r})" if self.context else ""
            return ClusterUnreachableError(
                f"cannot reach the Kubernetes cluster{where}: {line}",
                argv,
                returncode,
                stderr,
                hint="check --context/--kubeconfig; `kubectl cluster-info` shows what kubectl talks to",
            )
        return KubectlError(f"`kubectl {verb}` failed: {line}", argv, returncode, stderr)


def _binary() -> str:
    path = shutil.which(KUBECTL)
    if path is None:
        raise KubectlMissingError("kubectl is not installed or not on PATH", hint=INSTALL_HINT)
    return path


def _verb(args: Sequence[str]) -> str:
    """`rollout status`, `apply`, ...: the words before the first flag, for messages."""
    words = []
    for arg in args:
        if arg.startswith("-") or len(words) == 2:
            break
        words.append(arg)
    return " ".join(words) or "kubectl"
