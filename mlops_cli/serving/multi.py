"""Several versions in one server, routed as Triton and KServe route them.

Each version is its own app (a plain ONNX version or an entry-script one) under
`/v2/models/{name}[/versions/{v}]/...`; a path without a version goes to the newest version of
that name. Each model's MLflow-style endpoint is `/v2/models/{name}[/versions/{v}]/invocations`,
and an entry script's `/score` is `/v2/models/{name}[/versions/{v}]/score` here. `/invocations`
and `/score` at the top level exist only in a single-model server, so a client never reaches
an arbitrary one of several models by accident. The health, metadata and metrics endpoints
are the server's: ready means every model is ready.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlops_cli.serving import jsonio
from mlops_cli.serving.app import OPEN_PATHS, SERVER_METADATA
from mlops_cli.serving.errors import HTTPError
from mlops_cli.serving.metrics import Metrics

PREFIX = "/v2/models/"
SCRIPT_ACTIONS = ("score", "invocations")


class MultiApp:
    def __init__(self, apps: list[Any]) -> None:
        self.apps = apps
        self.routes: dict[str, dict[str, Any]] = {}
        for app in apps:
            self.routes.setdefault(app.model.name, {})[app.model.version] = app
        metrics = Metrics("+".join(f"{a.model.name}:{a.model.version}" for a in apps), "multi")
        for app in apps:
            app.metrics = metrics  # one /metrics for the server (each app counts into it)
        self.front = apps[0]  # answers the server-wide endpoints

    @property
    def ready(self) -> bool:
        """What a switchable server reports on its control socket: every model ready."""
        return all(a.ready for a in self.apps)

    @property
    def draining(self) -> bool:
        return self.front.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        """A newer revision took the listener: every model's answers close their keep-alives."""
        for app in self.apps:
            app.draining = value

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if self.front.auth is not None and path not in OPEN_PATHS:
            # Before anything that names the models (/v2, the 404s), as a single-model server
            # does: a caller without the key learns nothing but 401.
            try:
                self.front.auth.check(dict(scope["headers"]).get(b"authorization"))
            except HTTPError as exc:
                await _answer(send, 401, {"error": exc.message}, [(b"www-authenticate", b"Bearer")])
                return
        if path.startswith(PREFIX):
            app, rewritten = self._model_route(path)
            if app is None:
                await _answer(send, 404, {"error": f"no such model: {path}; serving {self._listing()}"})
                return
            await app(dict(scope, path=rewritten) if rewritten != path else scope, receive, send)
        elif path in ("/invocations", "/score"):
            await _answer(
                send,
                404,
                {"error": f"this server serves several models ({self._listing()}):"
                 f" POST {PREFIX}NAME[/versions/V]/infer, or .../score for an entry script"},
            )  # fmt: skip
        elif path == "/v2/health/ready":
            ready = all(a.ready and not _init_error(a) for a in self.apps)
            await _answer(send, 200 if ready else 503, {"ready": ready, **self._errors()})
        elif path == "/v2":
            await _answer(send, 200, {**SERVER_METADATA, "models": self._listing_list()})
        elif path == "/v2/models":  # KServe's model list: the names a client can route to
            await _answer(send, 200, {"models": list(self.routes)})
        else:
            await self.front(scope, receive, send)

    def _model_route(self, path: str) -> tuple[Any, str]:
        """(the app, the path it should see): by name, then version, else the newest version."""
        parts = path[len(PREFIX) :].split("/")
        versions = self.routes.get(parts[0])
        if not versions:
            return None, path
        rest = parts[1:]
        if len(rest) >= 2 and rest[0] == "versions":
            app = versions.get(rest[1])
            rest = rest[2:]
        else:
            app = versions[max(versions, key=_version_key)]
        if app is not None and len(rest) == 1 and _json_action(app, rest[0]):
            return app, f"/{rest[0]}"
        return app, path

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for app in self.apps:
                    if app.batcher is not None:
                        app.batcher.start()
                    app.ready = True
                self.front.start_sharing()  # one Metrics for every model: the front shares it
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for app in self.apps:
                    app.ready = False
                    if app.batcher is not None:
                        await app.batcher.stop()
                    if app.collector is not None:
                        await asyncio.get_running_loop().run_in_executor(None, app.collector.close)
                await self.front.stop_sharing()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _listing_list(self) -> list[str]:
        return [
            f"{name}:{v}"
            for name, versions in self.routes.items()
            for v in sorted(versions, key=_version_key)
        ]

    def _listing(self) -> str:
        return ", ".join(self._listing_list())

    def _errors(self) -> dict[str, str]:
        errors = [f"{a.model.name}:{a.model.version}: {_init_error(a)}" for a in self.apps if _init_error(a)]
        return {"error": "; ".join(errors)} if errors else {}


def _json_action(app: Any, action: str) -> bool:
    """/invocations for every model (MLflow's body), /score for an entry script's."""
    return action == "invocations" or (action in SCRIPT_ACTIONS and hasattr(app, "script"))


def _init_error(app: Any) -> str | None:
    script = getattr(app, "script", None)
    return script.init_error if script is not None else None


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


async def _answer(send: Any, status: int, body: dict, extra: list | None = None) -> None:
    payload = jsonio.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
