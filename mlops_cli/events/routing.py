"""From audit events to outbox rows, and from a commit to a delivery process.

`install()` adds two small callbacks to the store: a sink that `append_event` calls inside the
event's transaction (it writes one outbox row per matching hook, so event and deliveries
commit or vanish together), and an after-commit callback that starts one detached
`python -m mlops_cli.events deliver` process when the commit wrote deliveries. The command
pays for a stat of config.yaml per event and, only when a hook matched, one process spawn.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from mlops_cli.domain import AuditEvent
from mlops_cli.errors import MlopsError
from mlops_cli.events.config import Config, config_path, load
from mlops_cli.events.deliverer import try_lock
from mlops_cli.events.names import matches
from mlops_cli.store import db, events, outbox

LOG_NAME = "deliveries.log"

_configs: dict[Path, tuple[tuple[int, int] | None, Config]] = {}
_warned: set[str] = set()
_children: list[int] = []  # forked deliverers not yet reaped
_dirty: dict[int, Path] = {}  # id(conn) -> store root, for connections that wrote deliveries


def install() -> None:
    """Route this process's audit events to the configured hooks (idempotent)."""
    if _sink not in events.EVENT_SINKS:
        events.EVENT_SINKS.append(_sink)
    if _after_commit not in db.AFTER_COMMIT:
        db.AFTER_COMMIT.append(_after_commit)


def _warn(text: str) -> None:
    if text not in _warned:
        _warned.add(text)
        sys.stderr.write(f"warning: {text}\n")


def config_for(root: Path) -> Config:
    """The store's hooks, loaded once per process and again only when config.yaml changes."""
    try:
        st = config_path(root).stat()
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        stamp = None
    cached = _configs.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    config = load(root) if stamp is not None else Config()
    _configs[root] = (stamp, config)
    for problem in config.problems:
        _warn(problem)
    return config


def store_root(conn: sqlite3.Connection) -> Path:
    return Path(conn.execute("PRAGMA database_list").fetchone()["file"]).parent


def _sink(conn: sqlite3.Connection, event: AuditEvent) -> None:
    root = store_root(conn)
    hooks = [h for h in config_for(root).hooks if matches(list(h.events), event.action)]
    if not hooks:
        return
    for hook in hooks:
        if hook.secret_env and not os.environ.get(hook.secret_env):
            _warn(
                f"hook {hook.label}: environment variable {hook.secret_env} is not set;"
                " its deliveries fail until it is (then run `mlops audit deliver --failed`)"
            )
    outbox.enqueue(conn, event.seq, event.action, [h.to_dict() for h in hooks])
    _dirty[id(conn)] = root


def _after_commit(conn: sqlite3.Connection) -> None:
    root = _dirty.pop(id(conn), None)
    if root is not None:
        spawn_deliverer(root)


def spawn_deliverer(root: Path) -> None:
    """Start a detached deliverer for the store unless one runs; it outlives this command and
    never blocks it.

    The deliverer lock is taken here and its descriptor handed to the child (deliverer.py), so
    there is never a second deliverer, not even one that would exit at once. A single-threaded
    command forks and returns at once: the child only redirects its standard streams, starts a
    new session and execs. `subprocess.Popen` would wait until the child has exec'd, which on a
    loaded machine costs several milliseconds more (benchmarks/). With other threads running,
    fork is unsafe and Popen is used.
    """
    lock_fd = try_lock(root)
    if lock_fd is None:
        return  # the running deliverer sends this command's rows too
    argv = [
        sys.executable,
        "-m",
        "mlops_cli.events",
        "deliver",
        "--store",
        str(root),
        "--lock-fd",
        str(lock_fd),
    ]
    try:
        log = os.open(root / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        log = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        if hasattr(os, "fork") and threading.active_count() == 1:
            _reap()
            pid = os.fork()
            if pid == 0:  # the child: nothing but system calls until exec
                try:
                    os.setsid()  # a Ctrl-C of the command does not reach its deliveries
                    null = os.open(os.devnull, os.O_RDWR)
                    os.dup2(null, 0)
                    os.dup2(null, 1)
                    os.dup2(log, 2)
                    os.set_inheritable(lock_fd, True)
                    os.execv(argv[0], argv)
                finally:
                    os._exit(127)
            _children.append(pid)
        else:
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(lock_fd,),
                start_new_session=True,
            )
    except OSError as exc:
        _warn(f"cannot start hook delivery ({exc}); `mlops audit deliver` sends the pending ones")
    finally:
        os.close(log)
        os.close(lock_fd)  # the lock is the child's now (or, if it could not start, nobody's)


def _reap() -> None:
    """Collect deliverers that finished, so a long-running process keeps no zombies."""
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _children.remove(pid)


def report_failures(conn: sqlite3.Connection) -> None:
    """Tell the user, once, about deliveries that failed since the last command."""
    try:
        failures = outbox.take_unreported_failures(conn)
    except (MlopsError, sqlite3.Error):
        return  # a read-only or busy store: tell them next time
    for d in failures:
        _warn(
            f"hook {d.hook.get('name') or d.target} failed for event {d.event_seq} ({d.event}):"
            f" {d.last_error} (after {d.attempts} attempt{'s' if d.attempts != 1 else ''});"
            " `mlops audit deliver --failed` retries it"
        )
