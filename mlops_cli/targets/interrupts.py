"""SIGINT and SIGTERM during a switch: immediate before the commit point, held after it.

Before the new revision holds the listener, an interrupt cancels the switch (the new revision is
removed, the old one never touched). From the moment the listener moves, the switch is one
transaction: an interrupt is kept, not raised, until the records say what serves and the command
has reported it, so the exit code and message always agree with the records.

`mlops deploy` opens a `SignalHold` around the whole command; the switching code calls `arm()`
at its commit point (and before cleaning up after a failure, so a second Ctrl-C cannot leave the
cleanup half done). Without an open hold (a target driven by another caller) `arm()` does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from mlops_cli.errors import Terminated

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_open: list[SignalHold] = []


class SignalHold:
    """Until `arm()`: SIGINT/SIGTERM act as before (the previous handler runs, or Ctrl-C/
    Terminated is raised). After it: they are only counted in `caught` until the block ends."""

    def __init__(self, keep_when_armed: bool = False) -> None:
        self.armed = False
        self.caught: list[int] = []
        self._previous: dict[int, Any] = {}
        # A command whose switch committed keeps holding interrupts until the process exits:
        # nothing after the report may turn its outcome into "interrupted".
        self.keep_when_armed = keep_when_armed

    def __enter__(self) -> SignalHold:
        if threading.current_thread() is threading.main_thread():
            for sig in HELD_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        _open.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _open.remove(self)
        if self.armed and self.keep_when_armed:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            self.caught.append(signum)
            return
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)  # Ctrl-C's default handler, the CLI's SIGTERM handler
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()


def arm() -> None:
    """From now on the open hold (if any) keeps interrupts instead of raising them."""
    if _open:
        _open[-1].armed = True


def requested() -> bool:
    """Whether an interrupt arrived after `arm()`: long waits (an old revision's drain) end early."""
    return bool(_open and _open[-1].caught)


def deferred_block() -> SignalHold:
    """A hold armed from the start: interrupts wait until the block ends, then are raised."""
    return _ArmedBlock()


class _ArmedBlock(SignalHold):
    def __enter__(self) -> SignalHold:
        if _open and _open[-1].armed:
            self._nested = True  # the outer hold already keeps interrupts
            return _open[-1]
        self._nested = False
        super().__enter__()
        self.armed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._nested:
            return
        super().__exit__(*exc)
        if self.caught and exc[0] is None:
            if signal.SIGTERM in self.caught:
                raise Terminated()
            raise KeyboardInterrupt
