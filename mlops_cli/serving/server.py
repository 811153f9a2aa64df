"""Running the app under uvicorn: one process, or N worker processes on one socket.

uvicorn already does what a graceful stop needs: on SIGTERM or SIGINT it stops accepting,
lets in-flight requests finish (up to `graceful_timeout`), then sends the ASGI lifespan
shutdown, where the app drains the micro-batcher and flushes the collection files.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import replace

from mlops_cli.serving.config import CONFIG_ENV, ServeConfig


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def uvicorn_options(config: ServeConfig) -> dict:
    """The uvicorn settings: uvloop and httptools when installed (httptools through
    `protocol.OneWriteProtocol`: one write per response), no access log (it costs as much as a
    small model's prediction), our own lifespan for start-up and the final flush."""
    return {
        "host": config.host,
        "port": config.port,
        "workers": config.workers,
        "loop": "auto",
        "http": http_protocol(),
        "lifespan": "on",
        "access_log": False,
        # No X-Forwarded-For rewriting of scope["client"]: the app never reads the client's
        # address, and uvicorn's middleware for it is one more coroutine per request.
        "proxy_headers": False,
        "log_level": config.log_level,
        "timeout_graceful_shutdown": config.graceful_timeout,
        "timeout_keep_alive": 30,
        "server_header": False,
        "date_header": False,
    }


def http_protocol() -> str:
    """Our one-write httptools protocol, or uvicorn's choice (h11) when httptools is missing."""
    from importlib.util import find_spec

    if find_spec("httptools") is None:
        return "auto"
    return "mlops_cli.serving.protocol:OneWriteProtocol"


def serve(config: ServeConfig) -> None:
    """Serve until SIGTERM/SIGINT. The model loads in each worker from `config.bundle`."""
    import uvicorn

    configure_logging(config.log_level)
    made = None
    if config.workers > 1 and not config.metrics_dir:
        made = tempfile.mkdtemp(prefix="mlops-metrics-")  # 0700
        config = replace(config, metrics_dir=made)
    os.environ[CONFIG_ENV] = config.to_env()
    # uvicorn re-raises the signal it stopped on once it has shut down; a SIGTERM that ended in
    # a complete, graceful stop is a success, so that re-raise must find a handler that exits 0.
    signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run("mlops_cli.serving.factory:create_app", factory=True, **uvicorn_options(config))
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM after uvicorn's graceful shutdown: nothing is left to do."""
