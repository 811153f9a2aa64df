"""The process that runs an Azure-form entry script for `score-batch`: `init()` once, then
`run()` for every batch the parent sends.

It runs in the version's own environment (or this interpreter with `--env-manager local`), so
it imports only the standard library and `serving/` (which the environment's serving layer
provides). It loads the script exactly as the server does (`serving.entry_script`), so a batch
is one more request to the same `run`. Frames on stdin and on the original stdout are
length-prefixed; the script's own prints and logs go to stderr, so they cannot corrupt a frame.

    python -m mlops_cli.batch.script_child BUNDLE_JSON
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import sys
from typing import BinaryIO

OK, FAILED, INIT_FAILED = b"o", b"e", b"i"
_LENGTH = struct.Struct(">I")


def write_frame(stream: BinaryIO, tag: bytes, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload) + 1) + tag + payload)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's bytes, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole process group: the parent decides what stops, and closes stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() in the script (and C code writing to fd 1) lands on stderr
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    frames_in = sys.stdin.buffer

    from mlops_cli.serving import jsonio
    from mlops_cli.serving.bundle import read_bundle
    from mlops_cli.serving.entry_script import EntryScript, describe

    script = EntryScript(read_bundle(argv[0]))
    if script.init_error is not None:
        write_frame(frames_out, INIT_FAILED, script.init_error.encode())
        return 1
    write_frame(frames_out, OK, b"")
    while (frame := read_frame(frames_in)) is not None:
        try:
            result = script.run_body(frame[1:])  # after the tag byte
        except Exception as exc:  # noqa: BLE001 - the user's code: reported for these rows
            logging.getLogger("mlops.batch").exception("run() failed on a batch")
            write_frame(frames_out, FAILED, describe("run", exc).encode())
            continue
        try:
            encoded = jsonio.dumps(result)
        except (TypeError, ValueError) as exc:
            message = f"run() returned a {type(result).__name__}, which is not JSON-serialisable: {exc}"
            write_frame(frames_out, FAILED, message.encode())
            continue
        write_frame(frames_out, OK, encoded)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
