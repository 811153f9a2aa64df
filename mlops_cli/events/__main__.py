"""`python -m mlops_cli.events deliver --store ROOT [--lock-fd N]`: the background deliverer.

A committing command starts it holding the store's deliverer lock (descriptor N, see
deliverer.py); it sends until the outbox is empty and exits. Its stderr goes to
`.mlops/deliveries.log`. Every outcome is also on the outbox row, so nothing here is the only
record of anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

USAGE = "usage: python -m mlops_cli.events deliver --store STORE [--lock-fd N]\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 5) or argv[0] != "deliver" or argv[1] != "--store":
        sys.stderr.write(USAGE)
        return 2
    lock_fd = None
    if len(argv) == 5:
        if argv[3] != "--lock-fd" or not argv[4].isdigit():
            sys.stderr.write(USAGE)
            return 2
        lock_fd = int(argv[4])
    import traceback

    from mlops_cli.events.deliverer import run
    from mlops_cli.store.events import utc_now

    try:
        # Ends the process the moment the lock is let go (see deliverer.py).
        run(Path(argv[2]), lock_fd, on_release=lambda: os._exit(0))
    except BaseException:  # noqa: BLE001 - the log gets the whole traceback, with its type
        sys.stderr.write(f"{utc_now()} deliverer {argv[2]} failed:\n{traceback.format_exc()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
