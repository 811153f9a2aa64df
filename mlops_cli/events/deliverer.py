"""One background deliverer per store at a time, held by a file lock, looping until the outbox
is empty.

A committing command takes `.mlops/deliverer.lock` without waiting: if it gets it, it starts
the deliverer and hands it the locked descriptor (the lock is then the child's); if another
process holds it, that deliverer will send this command's rows, so nothing is started. A loop
of a thousand commands therefore starts a deliverer only when none runs.

The race this must not lose: a deliverer that found nothing left lets go of the lock just as a
command commits a row and finds the lock still held. So the last look at the outbox happens
inside a SQLite write transaction, when no command can commit, and the background deliverer
ends right there (`on_release` is `os._exit`): its death lets go of the file lock and of the
SQLite lock at the same instant. A row committed before the look is seen and sent; a command
that commits after it can only do so once the old deliverer is gone, finds the lock free and
starts the next one, so two deliverers never run together, not even for a moment. (The
transaction has written nothing: dying in it loses nothing.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlops_cli.store import outbox
from mlops_cli.store.db import transaction

LOCK_NAME = "deliverer.lock"


def try_lock(root: Path) -> int | None:
    """The locked descriptor of the store's deliverer lock, or None when a deliverer holds it.

    Where there is no `fcntl` (Windows), every caller gets a descriptor: claims alone then keep
    two deliverers from sending the same row.
    """
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        import fcntl
    except ImportError:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def run(root: Path, lock_fd: int | None, on_release: Callable[[], None] = lambda: None) -> None:
    """Deliver until nothing is pending, holding the lock (taken here when `lock_fd` is None).

    `on_release` runs once the lock is let go, still inside the write transaction of the last
    look; the background process passes `os._exit`, so it is gone before a command can commit.
    """
    from mlops_cli.events.delivery import deliver
    from mlops_cli.store import open_store

    if lock_fd is None:
        lock_fd = try_lock(root)
    if lock_fd is None:
        return
    with open_store(root) as store:
        while True:
            deliver(store)
            with transaction(store.conn):
                outbox.release_stale_claims(store.conn)
            with transaction(store.conn):  # no command commits a row until this ends
                if not outbox.count_pending(store.conn, statuses=("pending",)):
                    os.close(lock_fd)
                    on_release()
                    return
