"""A server that can be switched without dropping a request: the listener moves, it is never closed.

`mlops deploy` runs each revision as `python -m mlops_cli.serving --control PATH --gate PATH`:

1. The revision starts on a private unix socket (the *gate*): it loads the model and answers
   there, so the deployer can prove it (ready + a smoke inference) before it takes traffic.
2. The deployer then sends one line to the revision's *control* socket:
   - `bind HOST PORT`: the first revision opens the public listener itself;
   - `takeover OLD_CONTROL`: the revision asks the old revision for its listening socket, which
     arrives as a file descriptor over the unix socket (SCM_RIGHTS, as HAProxy's and Envoy's hot
     restarts do), starts accepting on it, and tells the old one `taken`.
3. The old revision then stops accepting (its copy of the descriptor closes; the socket and its
   queue of pending connections live on in the new process), answers every request still on its
   connections with `Connection: close`, and exits when they have all closed (keep-alive
   connections idle for the whole drain time are closed then).

No listening socket is ever closed, so no queued connection is ever reset: closing a listener
(what an `SO_REUSEPORT` switch has to do) drops the connections waiting on it.

A restarted revision (Docker's `unless-stopped` after a crash) finds its start marker and binds
the public address itself, since nobody holds it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("mlops.serving.handoff")

HANDOFF_TIMEOUT = 10.0  # seconds an old server waits for `taken` before it keeps serving alone
BIND_RETRY_SECONDS = 30.0
ATTACH_TURNS = 3  # loop turns for accepted connections to reach their transports before a close


def _unix_listener(path: str) -> socket.socket:
    """A listening unix socket at `path`, owner-only (a stale file left by a crash is replaced).

    The file is created 0600 from the start (umask), never briefly open to others: whoever can
    connect can stop the revision or be handed its listening socket.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(previous)
    sock.listen(16)
    return sock


def peer_allowed(conn: socket.socket) -> bool:
    """Whether the process at the other end of a unix socket runs as our uid or root (SO_PEERCRED):
    the file's mode is the first guard, this the second (a folder opened by mistake, a copied fd)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)


def bind_public(host: str, port: int) -> socket.socket:
    """The public TCP listener. SO_REUSEADDR only: two live listeners on one port are a bug here.

    Created with IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when
    the listener says it is TCP, and without it a small response waits for the client's delayed
    ACK (Nagle), 40 ms per keep-alive request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def request(path: str, line: str, timeout: float = 30.0) -> dict[str, Any]:
    """Send one command line to a control socket and return its JSON answer (OSError on failure)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(line.encode() + b"\n")
        return json.loads(_read_line(conn) or b"{}")


def receive_listener(
    old_control: str, timeout: float = HANDOFF_TIMEOUT, request: bytes = b"handoff"
) -> tuple[socket.socket, socket.socket]:
    """Ask the server behind `old_control` for its listener; returns (listener, the open connection).

    The caller must send `taken` on the connection once it accepts on the listener.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        conn.connect(old_control)
        conn.sendall(request + b"\n")
        message, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
        if not fds:
            raise OSError(f"the old server sent no listener: {message.decode(errors='replace').strip()}")
        listener = socket.socket(fileno=fds[0])
        listener.setblocking(False)
        return listener, conn
    except BaseException:
        conn.close()
        raise


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.strip()


class HandoffServer:
    """One uvicorn server, a gate socket, a control socket and (later) the public listener."""

    def __init__(self, config: Any, control: str, gate: str | None, drain_seconds: float = 3.0) -> None:
        self.config = config  # a ServeConfig
        self.control_path = control
        self.gate_path = gate
        self.drain_seconds = drain_seconds
        self.public: socket.socket | None = None
        self.public_server: asyncio.base_events.Server | None = None
        self.gate_server: asyncio.base_events.Server | None = None
        self.handed_over = False
        self._lock = threading.Lock()

    # --- run -----------------------------------------------------------------------------------

    def run(self) -> None:
        import uvicorn

        from mlops_cli.serving.factory import build_app
        from mlops_cli.serving.server import configure_logging, uvicorn_options

        configure_logging(self.config.log_level)
        self.app = build_app(self.config)
        options = uvicorn_options(self.config)
        for key in ("host", "port", "workers"):
            options.pop(key)
        self.uv_config = uvicorn.Config(self.app, **options)
        self.server = uvicorn.Server(self.uv_config)
        marker = Path(f"{self.control_path}.started")
        restarted = marker.exists()
        marker.touch()
        # uvicorn re-raises the signal it stopped on; after a graceful stop that must exit 0.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        asyncio.run(self._main(restarted))

    async def _main(self, restarted: bool) -> None:
        self.loop = asyncio.get_running_loop()
        control = _unix_listener(self.control_path)
        threading.Thread(target=self._control_loop, args=(control,), daemon=True, name="control").start()
        sockets = []
        if self.gate_path:
            gate = _unix_listener(self.gate_path)
            sockets.append(gate)
        serving = asyncio.create_task(self.server.serve(sockets=sockets))
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.01)
        if self.server.started:
            self.gate_server = self.server.servers[0] if self.gate_path else None
            log.info("revision ready on the gate socket %s (pid %d)", self.gate_path, os.getpid())
            if restarted and self.config.port:
                await self._rebind_after_restart()
        try:
            await serving
        finally:
            control.close()
            for path in (self.control_path, self.gate_path):
                if path:
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def _from_sibling(self) -> socket.socket | None:
        """The listener lent by a sibling worker of this revision that still serves, if any."""
        folder = Path(self.control_path).parent
        revision = Path(self.control_path).name.split(".")[0].split("w")[0]  # "r3w1" -> "r3"
        for path in sorted(folder.glob(f"{revision}*.control.sock")):
            if str(path) == self.control_path or path.name.split(".")[0].split("w")[0] != revision:
                continue
            try:
                listener, conn = receive_listener(str(path), timeout=5, request=b"lend")
            except OSError:
                continue
            with conn:
                conn.sendall(b"taken\n")
                _read_line(conn)
            return listener
        return None

    async def _rebind_after_restart(self) -> None:
        """A restarted revision: share the listener of a sibling worker that still serves, or,
        when none does, bind the port itself (retrying while the port is still held)."""
        deadline = self.loop.time() + BIND_RETRY_SECONDS
        while True:
            try:
                lent = await asyncio.to_thread(self._from_sibling)
                await self._serve_public(lent or bind_public(self.config.host, self.config.port))
                log.info("restarted: serving %s:%d again", self.config.host, self.config.port)
                return
            except OSError as exc:
                if self.loop.time() > deadline:
                    log.error("restarted but cannot bind %s:%d: %s", self.config.host, self.config.port, exc)
                    return
                await asyncio.sleep(0.5)

    async def _serve_public(self, listener: socket.socket) -> None:
        config, server = self.uv_config, self.server

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(
                config=config, server_state=server.server_state, app_state=server.lifespan.state
            )

        self.public_server = await self.loop.create_server(protocol, sock=listener, backlog=2048)
        self.public = listener
        server.servers.append(self.public_server)
        if self.gate_server is not None:  # the gate has done its job; only the public socket serves now
            self.gate_server.close()
            server.servers.remove(self.gate_server)
            self.gate_server = None

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- control -------------------------------------------------------------------------------

    def _control_loop(self, control: socket.socket) -> None:
        while True:
            try:
                conn, _ = control.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            if not peer_allowed(conn):
                log.warning("control connection from another user refused")
                with contextlib.suppress(OSError):
                    conn.sendall(b'{"ok": false, "error": "permission denied"}\n')
                return
            try:
                conn.settimeout(HANDOFF_TIMEOUT)
                words = _read_line(conn).decode().split()
                if not words:
                    return
                command, args = words[0], words[1:]
                if command in ("handoff", "lend"):
                    self._hand_off(conn, retire=command == "handoff")
                    return
                answer = self._command(command, args)
            except Exception as exc:  # noqa: BLE001 - the deployer gets the reason, the server lives on
                log.warning("control command failed: %s", exc)
                answer = {"ok": False, "error": str(exc)}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(answer).encode() + b"\n")

    def _command(self, command: str, args: list[str]) -> dict[str, Any]:
        with self._lock:
            if command == "status":
                return {"ok": True, **self.state()}
            if command == "bind":
                if self.public is not None:
                    return {"ok": True, **self.state()}
                host, port = args[0], int(args[1])
                try:
                    listener = bind_public(host, port)
                except OSError as exc:
                    return {"ok": False, "error": f"cannot listen on {host}:{port}: {exc.strerror or exc}"}
                self._call(self._serve_public(listener))
                return {"ok": True, **self.state()}
            if command in ("takeover", "share"):
                # takeover: from the previous revision, which then retires; share: from a
                # sibling worker of this revision, which keeps serving too.
                request = b"handoff" if command == "takeover" else b"lend"
                listener, conn = receive_listener(args[0], request=request)
                with conn:
                    self._call(self._serve_public(listener))
                    conn.sendall(b"taken\n")
                    _read_line(conn)  # the old server's ack: it has stopped accepting
                return {"ok": True, **self.state()}
            if command == "retire":  # a previous revision's worker whose sibling handed over
                if not self.handed_over:
                    self.handed_over = True
                    self._call(self._stop_accepting())
                    asyncio.run_coroutine_threadsafe(self._drain(), self.loop)
                return {"ok": True, **self.state()}
            if command == "stop":
                self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)
                return {"ok": True, **self.state()}
        return {"ok": False, "error": f"unknown command {command!r}"}

    def state(self) -> dict[str, Any]:
        address = None
        if self.public is not None:
            with contextlib.suppress(OSError):
                address = self.public.getsockname()
        return {
            "pid": os.getpid(),
            "ready": bool(self.app.ready),
            "public": list(address[:2]) if address else None,
            "handed_over": self.handed_over,
        }

    def _hand_off(self, conn: socket.socket, retire: bool = True) -> None:
        """Give our listener to the next revision; once it says `taken`, stop accepting and drain
        (or, lending it to a sibling worker of our own revision, keep serving)."""
        with self._lock:
            if self.public is None:
                conn.sendall(b'{"ok": false, "error": "this server holds no public listener"}\n')
                return
            socket.send_fds(conn, [b"listener\n"], [self.public.fileno()])
            if _read_line(conn) != b"taken":
                log.warning("the next revision did not take the listener: still serving")
                return
            if not retire:
                conn.sendall(b"shared\n")
                return
            self.handed_over = True
            self._call(self._stop_accepting())
            conn.sendall(b"stopped\n")
        log.info("listener handed over; draining (at most %.1f s), then exiting", self.drain_seconds)
        asyncio.run_coroutine_threadsafe(self._drain(), self.loop)

    async def _stop_accepting(self) -> None:
        """Stop taking connections from the shared queue without dropping one already taken.

        asyncio accepts a connection in one step and attaches its transport to the server in a
        task that runs a loop turn later; closing the server in between makes that task fail
        and close the connection with the client's request unread, which the client sees as a
        reset. So: first stop accepting (no new connection leaves the queue, which the next
        revision now serves), let the accepted ones attach, then close the server.
        """
        self.app.draining = True  # the last keep-alive answers carry `Connection: close`
        if self.public_server is not None and self.public is not None:
            with contextlib.suppress(Exception):  # a loop without readers (uvloop) accepts in one step
                self.loop.remove_reader(self.public.fileno())
            for _ in range(ATTACH_TURNS):
                await asyncio.sleep(0)
            # Closes only this process's descriptor: the socket and its queue live on in the next.
            self.public_server.close()
            self.server.servers.remove(self.public_server)
            self.public_server = None
        self.public = None

    async def _drain(self) -> None:
        """Exit once every connection we accepted has closed: each gets `Connection: close` on
        its next answer, so under traffic this takes one round trip per connection. Connections
        accepted but not yet read (a busy server) are served, not cut. Only keep-alive
        connections that stay idle for `drain_seconds` are closed by the shutdown."""
        deadline = self.loop.time() + self.drain_seconds
        while self.server.server_state.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        self.server.should_exit = True
