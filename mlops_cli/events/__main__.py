"""`python -m mlops_cli.events deliver --store ROOT`: the detached deliverer a command starts.

It runs after the command committed, sends what is pending and exits; its stderr goes to
`.mlops/deliveries.log`. Every outcome is also on the outbox row, so nothing here is the only
record of anything.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "deliver" or argv[1] != "--store":
        sys.stderr.write("usage: python -m mlops_cli.events deliver --store STORE\n")
        return 2
    import traceback

    from mlops_cli.events.delivery import deliver
    from mlops_cli.store import open_store
    from mlops_cli.store.events import utc_now

    try:
        with open_store(Path(argv[2])) as store:
            deliver(store)
    except BaseException:  # noqa: BLE001 - the log gets the whole traceback, with its type
        sys.stderr.write(f"{utc_now()} deliverer {argv[2]} failed:\n{traceback.format_exc()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
