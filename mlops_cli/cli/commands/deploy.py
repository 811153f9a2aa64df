"""`mlops deploy ...`: run a version as a named deployment, switch it safely, roll it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from mlops_cli.cli.commands._common import LazyModule, fetch_from_remote, store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefsArg, ProvidersOpt, StoreOpt
from mlops_cli.cli.output import Output, short_digest
from mlops_cli.errors import MlopsError
from mlops_cli.serving.config import exposure_warning

service = LazyModule("mlops_cli.deploy.service")

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.targets.interrupts import SignalHold

DEFAULT_COMMAND = "apply"


class DeployGroup(TyperGroup):
    """`mlops deploy REF --name NAME` means `mlops deploy apply REF --name NAME`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            _refuse_a_command_guess(ctx, args, list(self.commands))
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


# Words a user may try as a deploy command ("switch" is what the docs call `apply` on a
# deployment that exists): refused as such, rather than read as a model ref.
COMMAND_GUESSES = frozenset(
    {"switch", "create", "update", "promote", "undo", "revert", "remove", "rm", "ls", "show",
     "get", "describe", "stop", "start", "restart", "run", "up", "down", "scale", "deploy"}
)  # fmt: skip


def _refuse_a_command_guess(ctx, args: list[str], commands: list[str]) -> None:
    """`mlops deploy switch web churn:2` reads as `apply` of the refs `switch web churn:2` and
    fails for a missing --name: say instead that the first word is not a deploy command. Only
    without --name (with it, the word is a model's name, as `apply` takes it)."""
    if args[0] not in COMMAND_GUESSES or any(a == "--name" or a.startswith("--name=") for a in args):
        return
    ctx.fail(
        f"{args[0]!r} is not a deploy command (they are: {', '.join(commands)}); to create or"
        " switch a deployment: mlops deploy REF --name NAME"
    )


_HELP = (
    "Run a version as a named deployment (local, docker, kubernetes); switch with a health gate "
    "and no failed requests; roll back. `mlops deploy REF --name NAME` creates or switches NAME."
)
app = typer.Typer(cls=DeployGroup, help=_HELP, short_help=_HELP.split(";")[0] + ".", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The deployment's name.")]


@app.command(DEFAULT_COMMAND)
def apply(
    refs: ModelRefsArg,
    name: Annotated[
        str, typer.Option("--name", help="The deployment's name (a-z 0-9 -).", show_default=False)
    ],
    target: Annotated[str, typer.Option("--target", help="local, docker or kubernetes.")] = "local",
    port: Annotated[
        Optional[int],
        typer.Option(help="Port the deployment answers on (create: 8080; a switch keeps the deployment's)."),
    ] = None,
    host: Annotated[
        Optional[str],
        typer.Option(
            help="Interface to listen on, local and docker host networking "
            "(create: 127.0.0.1; a switch keeps the deployment's)."
        ),
    ] = None,
    replicas: Annotated[
        Optional[int],
        typer.Option(
            help="kubernetes: pods; local/docker: server processes "
            "(default: a confirmed profile's workers, else 1)."
        ),
    ] = None,
    cpu: Annotated[
        Optional[float],
        typer.Option(help="CPU cores (default: the version's profile recommendation, else 1)."),
    ] = None,
    memory: Annotated[
        Optional[str],
        typer.Option(help="Memory, e.g. 512Mi (default: the profile recommendation, else 512Mi)."),
    ] = None,
    env: Annotated[
        Optional[list[str]],
        typer.Option("--env", help="KEY=VALUE for the server's environment (repeatable)."),
    ] = None,
    api_key_env: Annotated[
        Optional[str],
        typer.Option(
            help="Require 'Authorization: Bearer <key>', the key being this variable's value.", metavar="VAR"
        ),
    ] = None,
    collect: Annotated[
        bool,
        typer.Option("--collect", help="Record inputs and outputs in the deployment's collected/ folder."),
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option(help="Seconds the new revision has to pass its gate.", metavar="S")
    ] = 60.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (argv, docker settings, YAML); change nothing.")
    ] = False,
    image: Annotated[
        Optional[str], typer.Option(help="docker/kubernetes: run this image instead of the version's own.")
    ] = None,
    base_image: Annotated[
        Optional[str], typer.Option(help="docker: base image when the version's image must be built.")
    ] = None,
    network: Annotated[
        Optional[str],
        typer.Option(
            help="docker: 'host' (zero-failure switches, the default) or 'publish' (127.0.0.1:PORT->8080; "
            "needs a bridge). A switch keeps the deployment's."
        ),
    ] = None,
    push: Annotated[
        Optional[str],
        typer.Option(help="kubernetes: tag and push the image to this repository.", metavar="REPO"),
    ] = None,
    namespace: Annotated[Optional[str], typer.Option(help="kubernetes: the namespace.")] = None,
    context: Annotated[Optional[str], typer.Option(help="kubernetes: the kubectl context.")] = None,
    kubeconfig: Annotated[Optional[str], typer.Option(help="kubernetes: the kubeconfig file.")] = None,
    autoscale: Annotated[
        Optional[str],
        typer.Option(help="kubernetes: a HorizontalPodAutoscaler, MIN:MAX:CPU%.", metavar="MIN:MAX:CPU%"),
    ] = None,
    providers: ProvidersOpt = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create deployment NAME serving REF, or switch NAME to REF when it exists.

    Several REFs serve several versions in one server, each under /v2/models/NAME[/versions/N];
    the gate's smoke inference runs for every one, and a different set is a new revision.

    The new revision starts beside the old one and must answer /v2/health/ready and a smoke
    inference on the version's own sample before it takes traffic; local and docker (host
    networking) then take over the old one's listening socket, so no request fails. A revision
    that fails its gate is removed, the old one keeps serving, and the command exits 5.

    Example: mlops deploy churn@production --name churn --target local --port 8080 -m "weekly retrain"

    Example: mlops deploy churn:3 fraud@production --name scoring --target docker
    """
    options = {
        key: value
        for key, value in {
            "image": image,
            "base_image": base_image,
            "network": network,
            "push": push,
            "namespace": namespace,
            "context": context,
            "kubeconfig": kubeconfig,
            "autoscale": autoscale,
            "providers": providers,
        }.items()
        if value is not None
    }
    request = service.DeployRequest(
        ref=refs[0],
        more_refs=tuple(refs[1:]),
        name=name,
        target=target,
        port=port,
        host=host,
        replicas=replicas,
        cpu=cpu,
        memory=memory,
        env=env or [],
        api_key_env=api_key_env,
        collect=collect,
        wait_timeout=wait_timeout,
        options=options,
    )
    output = Output(json)
    exposed = exposure_warning(host, api_key_env) if host and target != "kubernetes" else None
    if exposed:
        output.warn(exposed)
    with _one_transaction(output) as hold, store_for(store) as opened, _refusal_shown(output):
        if not dry_run:
            for ref in refs:
                fetch_from_remote(output, opened, ref)
        result = service.deploy(opened, request, dry_run=dry_run, message=message)
        _render_result(output, result, hold)


@app.command("rollback")
def rollback(
    name: NameArg,
    to: Annotated[
        Optional[int],
        typer.Option(
            "--to", help="The revision to go back to (default: the previous one).", metavar="REVISION"
        ),
    ] = None,
    wait_timeout: Annotated[
        Optional[float], typer.Option(help="Seconds the revision has to pass its gate.", metavar="S")
    ] = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Switch NAME back to an earlier revision's version and settings, through the same gate.

    Example: mlops deploy rollback churn --to 3 -m "v7 raises false positives"
    """
    output = Output(json)
    with _one_transaction(output) as hold, store_for(store) as opened, _refusal_shown(output):
        result = service.rollback(opened, name, to, message=message, wait_timeout=wait_timeout)
        _render_result(output, result, hold)


@app.command("list")
def list_(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List deployments as recorded: target, serving revision, version (see `status` for the truth).

    Example: mlops deploy list --json
    """
    with store_for(store) as opened:
        found = service.list_deployments(opened)

    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("NAME", "TARGET", "REVISION", "MODEL", "DIGEST", "SINCE", "ENDPOINT"):
            table.add_column(column)
        for d in found:
            current = d.current
            endpoint = (current.state or {}).get("endpoint") if current else None
            table.add_row(
                d.name,
                d.target,
                str(d.current_revision or "-"),
                " ".join(current.models) if current else "-",
                short_digest(current.digest) if current else "-",
                current.created_at[:19] if current else "-",
                endpoint or "-",
            )
        console.print(table if found else "no deployments")

    Output(json).result(found, human)


@app.command("status")
def status(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """What NAME's serving revision is doing right now, checked (process, container, health).

    Exits 1 when the recorded revision is not running and ready.

    Example: mlops deploy status churn --json
    """
    with store_for(store) as opened:
        found = service.status(opened, name)
    output = Output(json)
    state = "ready" if found.ready else ("running, not ready" if found.running else "NOT RUNNING")
    head = f"{found.name} ({found.target}) revision {found.revision or '-'} {_served(found)}: {state}"
    output.result(found, f"{head}\n  {found.detail}")
    if not (found.running and found.ready):
        raise typer.Exit(1)


@app.command("history")
def history(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Every revision of NAME: version, digest, when, who, why and how it went.

    Example: mlops deploy history churn
    """
    with store_for(store) as opened:
        revisions = service.history(opened, name)

    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("REV", "KIND", "MODEL", "DIGEST", "WHEN", "WHO", "OUTCOME", "WHY"):
            table.add_column(column)
        for r in revisions:
            kind = f"rollback to {r.rollback_of}" if r.kind == "rollback" else r.kind
            outcome = r.outcome + (f": {r.detail}" if r.detail else "")
            table.add_row(
                str(r.revision),
                kind,
                " ".join(r.models),
                short_digest(r.digest),
                r.created_at[:19],
                r.actor,
                outcome,
                r.message or "-",
            )
        console.print(table)

    Output(json).result(revisions, human)


@app.command("logs")
def logs(
    name: NameArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines while it runs.")
    ] = False,
    tail: Annotated[Optional[int], typer.Option("--tail", help="Only the last N lines.", metavar="N")] = None,
    revision: Annotated[
        Optional[int], typer.Option("--revision", help="Another revision's log (failed ones are kept).")
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Print the serving revision's log (or a kept one's), optionally following it.

    With --json, one JSON object {"line": ...} per line.

    Example: mlops deploy logs churn --tail 50 --follow
    """
    import json as jsonlib
    import sys

    with store_for(store) as opened:
        lines = service.logs(opened, name, follow=follow, tail=tail, revision=revision)
    for line in lines:
        sys.stdout.write((jsonlib.dumps({"line": line}) if json else line) + "\n")
        sys.stdout.flush()


@app.command("delete")
def delete(
    name: NameArg,
    purge: Annotated[bool, typer.Option("--purge", help="Also remove collected/ monitoring data.")] = False,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Stop NAME gracefully and remove its records (the audit log keeps every revision).

    Example: mlops deploy delete churn -m "replaced by churn-v2"
    """
    with store_for(store) as opened:
        deployment = service.delete(opened, name, purge=purge, message=message)
    Output(json).result(
        {
            "deleted": deployment.name,
            "target": deployment.target,
            "revision": deployment.current_revision,
            "purged": purge,
        },
        f"Deleted {deployment.name} ({deployment.target})",
    )


@contextmanager
def _refusal_shown(output: Output) -> Iterator[None]:
    """Show a refused revision's log tail on stderr before the one error line.

    Any target's refusal may carry one (RevisionRefusedError of local/docker, the kubernetes
    target's RolloutFailedError with the failing pods' state, events and logs).
    """
    try:
        yield
    except MlopsError as exc:
        log_tail = getattr(exc, "log_tail", None)
        if log_tail:
            output.stderr.print("the new revision's log ends with:", markup=False, highlight=False)
            for line in log_tail:
                output.stderr.print(f"  | {line}", markup=False, highlight=False)
        raise


@contextmanager
def _one_transaction(output: Output) -> Iterator[SignalHold]:
    """SIGINT/SIGTERM cancel a switch until the new revision holds the listener; from then on
    they are held until the process exits, so the outcome recorded is the one reported and the
    exit code (see targets/interrupts.py)."""
    from mlops_cli.targets.interrupts import SignalHold

    with SignalHold(keep_when_armed=True) as hold:
        yield hold


def _render_result(output: Output, result: service.DeployResult, hold: SignalHold | None = None) -> None:
    if hold is not None and hold.caught:
        output.stderr.print(
            f"note: interrupted after revision {result.revision} took the listener: "
            "the switch was completed and recorded first",
            markup=False,
            highlight=False,
        )
    if result.action == "plan":
        _render_plan(output, result)
        return
    verb = {"create": "Created", "switch": "Switched", "rollback": "Rolled back"}[result.action]
    output.result(
        result,
        f"{verb} {result.deployment}: revision {result.revision} serves {_served(result)} "
        f"({short_digest(result.digest)}) on {result.endpoint} in {result.seconds:.2f} s",
    )


def _served(result: service.DeployResult | service.Status) -> str:
    """The version, or the versions of a multi-model revision."""
    return " ".join(result.models) or result.ref or ""


def _render_plan(output: Output, result: service.DeployResult) -> None:
    """--dry-run: the plan object with --json. Without it, a plan with manifests (kubernetes)
    prints them as YAML on stdout, ready for `kubectl apply -f -`, `kubectl diff -f -` or a
    validator, and the summary with the kubectl commands on stderr; other targets print the plan."""
    import json as jsonlib
    import sys

    plan = dict(result.plan or {})
    manifests = None if output.json_mode else plan.pop("yaml", None)
    head = f"Plan for {result.deployment} revision {result.revision} ({_served(result)}):\n"
    text = head + jsonlib.dumps(
        {"resources": result.resources, "smoke": result.smoke, **plan}, indent=2, default=str
    )
    if manifests is None:
        output.result(result, text)
        return
    output.stderr.print(text, markup=False, highlight=False)
    sys.stdout.write(manifests if manifests.endswith("\n") else manifests + "\n")
    sys.stdout.flush()
