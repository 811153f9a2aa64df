"""Events to webhooks and command hooks, against a real HTTP receiver on 127.0.0.1.

The command's own detached deliverer (`python -m mlops_cli.events deliver`) does the sending,
so these tests wait on the outbox rows it updates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.webhook_receiver import Receiver, wait_for_deliveries

SECRET = "s3cr3t-for-tests"


def write_config(project: Path, hooks: str) -> None:
    (project / ".mlops" / "config.yaml").write_text(
        "hooks:\n" + textwrap.indent(textwrap.dedent(hooks), "  ")
    )


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return SECRET


def test_register_reaches_a_signed_webhook_that_mlflow_receivers_verify(cli, project, model_file, secret):
    with Receiver(secret=secret) as receiver:
        write_config(
            project,
            f"""\
            - name: ci
              events: ["model.registered", "deploy.*"]
              url: {receiver.url}
              secret_env: HOOK_SECRET
            """,
        )
        result = cli("register", model_file, "--name", "churn", "-m", "first")
        assert result.exit_code == 0, result.stderr
        cli("models", "tag", "churn:1", "a=1")  # not routed: no delivery
        rows = wait_for_deliveries(project / ".mlops")
    assert [(r["event"], r["status"], r["attempts"]) for r in rows] == [("register", "delivered", 1)]
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["verified"] is True
    assert request["headers"]["X-MLflow-Delivery-Id"] == rows[0]["delivery_id"]
    body = receiver.payloads()[0]
    assert (body["entity"], body["action"], body["event"]) == ("model", "registered", "register")
    event = cli("audit", "log", "--action", "register", "--json").json[0]
    assert body["data"]["seq"] == event["seq"] and body["data"]["hash"] == event["hash"]
    assert body["data"]["subject"] == "churn:1" and body["data"]["message"] == "first"


def test_retries_after_429_and_5xx_with_the_same_delivery_id(cli, project, model_file, secret):
    with Receiver(secret=secret, statuses=[429, 503]) as receiver:
        write_config(
            project,
            f"""\
            - events: [register]
              url: {receiver.url}
              secret_env: HOOK_SECRET
              retries: 3
              backoff: 0.05
            """,
        )
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        rows = wait_for_deliveries(project / ".mlops")
    assert rows[0]["status"] == "delivered" and rows[0]["attempts"] == 3
    ids = {r["headers"]["X-MLflow-Delivery-Id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {rows[0]["delivery_id"]}
    assert all(r["verified"] for r in receiver.requests)


def test_a_4xx_is_final_and_recorded_then_replayed(cli, project, model_file, secret):
    with Receiver(secret=secret, statuses=[404]) as receiver:
        write_config(project, f"- events: ['*']\n  url: {receiver.url}\n  secret_env: HOOK_SECRET\n")
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        rows = wait_for_deliveries(project / ".mlops")
        assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 1
        assert rows[0]["last_error"] == "HTTP 404 Not Found"
        # The next command tells the user, once.
        failed = cli("audit", "deliveries", "--failed", "--json")
        assert [d["id"] for d in failed.json] == [rows[0]["id"]]
        assert "failed for event" in failed.stderr and "HTTP 404" in failed.stderr
        assert "failed for event" not in cli("models", "list").stderr
        replay = cli("audit", "deliver", "--failed", "--json")
        assert replay.exit_code == 0, replay.stderr
        assert replay.json["delivered"] == 1
        again = cli("audit", "deliver", "--id", str(rows[0]["id"]), "--json")  # replay a delivered one
        assert again.exit_code == 0 and again.json["deliveries"][0]["status"] == "delivered"
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-MLflow-Delivery-Id"] for r in receiver.requests}) == 1


def test_kill_9_between_commit_and_delivery_loses_nothing(cli, project, model_file, secret):
    """The process dies right after the commit, before it could start its deliverer."""
    with Receiver(secret=secret) as receiver:
        write_config(
            project, f"- events: [model.registered]\n  url: {receiver.url}\n  secret_env: HOOK_SECRET\n"
        )
        script = textwrap.dedent(
            f"""
            import os, signal
            from pathlib import Path
            from mlops_cli.events import routing
            from mlops_cli.models.registering import register_model
            from mlops_cli.store import db, open_store
            routing.install()
            db.AFTER_COMMIT[:] = [lambda conn: os.kill(os.getpid(), signal.SIGKILL)]
            register_model(open_store(), Path({str(model_file)!r}), name="churn")
            """
        )
        died = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True)
        assert died.returncode == -signal.SIGKILL, died.stderr
        pending = cli("audit", "deliveries", "--json").json
        assert [(d["event"], d["status"]) for d in pending] == [("register", "pending")]
        assert receiver.requests == []
        sent = cli("audit", "deliver", "--json")
        assert sent.exit_code == 0 and sent.json["delivered"] == 1
    assert receiver.requests[0]["verified"] is True
    assert receiver.payloads()[0]["data"]["subject"] == "churn:1"
    assert cli("audit", "verify").exit_code == 0


def test_a_command_hook_gets_the_event_on_stdin(cli, project, model_file):
    out = project / "hook-out.json"
    command = (
        f'{sys.executable} -c "import sys, pathlib; pathlib.Path({str(out)!r}).write_text(sys.stdin.read())"'
    )
    write_config(project, f"- events: [tag]\n  command: {json.dumps(command)}\n  timeout: 20\n")
    cli("register", model_file, "--name", "churn")
    assert cli("models", "tag", "churn:1", "stage=prod").exit_code == 0
    rows = wait_for_deliveries(project / ".mlops")
    assert [(r["event"], r["status"]) for r in rows] == [("tag", "delivered")]
    body = json.loads(out.read_text())
    assert body["event"] == "tag" and body["data"]["details"]["set"] == {"stage": "prod"}


def test_a_failing_command_hook_is_recorded_with_its_stderr(cli, project, model_file):
    write_config(project, "- events: [register]\n  command: sh -c 'echo boom >&2; exit 3'\n")
    assert cli("register", model_file, "--name", "churn").exit_code == 0
    rows = wait_for_deliveries(project / ".mlops")
    assert rows[0]["status"] == "failed" and rows[0]["last_error"] == "exit 3: boom"


def test_bad_config_warns_with_the_line_and_the_command_succeeds(cli, project, model_file):
    (project / ".mlops" / "config.yaml").write_text("hooks:\n  - events: [register\n    url: http://x\n")
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    assert "config.yaml line" in result.stderr and "invalid YAML" in result.stderr
    assert cli("audit", "deliveries", "--json").json == []


def test_unknown_event_and_unknown_key_are_named_with_their_lines(cli, project, model_file):
    write_config(
        project,
        """\
        - events: [model.registred, "deploy.*"]
          url: http://127.0.0.1:9/hook
          colour: blue
        """,
    )
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    assert "config.yaml line 2: hook 1: unknown event 'model.registred'" in result.stderr
    assert "config.yaml line 4: hook 1: unknown key 'colour'; key ignored" in result.stderr
    assert [line.startswith("warning: ") for line in result.stderr.splitlines()] == [True, True]


def test_a_bad_secret_env_drops_the_hook_rather_than_send_unsigned(cli, project, model_file):
    write_config(project, "- events: [register]\n  url: http://127.0.0.1:9/hook\n  secret_env: [1, 2]\n")
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    assert (
        "config.yaml line 4: hook 1: `secret_env` must name a variable, for a url; hook ignored"
        in result.stderr
    )
    assert cli("audit", "deliveries", "--json").json == []


def test_missing_secret_variable_warns_and_the_delivery_fails_until_set(
    cli, project, model_file, monkeypatch
):
    monkeypatch.delenv("NOT_SET_SECRET", raising=False)
    with Receiver(secret=SECRET) as receiver:
        write_config(project, f"- events: [register]\n  url: {receiver.url}\n  secret_env: NOT_SET_SECRET\n")
        result = cli("register", model_file, "--name", "churn")
        assert result.exit_code == 0
        assert "environment variable NOT_SET_SECRET is not set" in result.stderr
        rows = wait_for_deliveries(project / ".mlops")
        assert rows[0]["status"] == "failed" and "NOT_SET_SECRET is not set" in rows[0]["last_error"]
        assert receiver.requests == []  # never sent unsigned
        monkeypatch.setenv("NOT_SET_SECRET", SECRET)
        assert cli("audit", "deliver", "--failed").exit_code == 0
    assert receiver.requests[0]["verified"] is True


def test_unreachable_url_never_fails_the_command(cli, project, model_file):
    write_config(
        project, "- events: [register]\n  url: http://127.0.0.1:9/hook\n  retries: 1\n  backoff: 0.01\n"
    )
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    rows = wait_for_deliveries(project / ".mlops")
    assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 2
    assert "cannot reach http://127.0.0.1:9/hook" in rows[0]["last_error"]
    retry = cli("audit", "deliver", "--failed")
    assert retry.exit_code == 4 and "1 of 1 deliveries failed" in retry.stderr


def test_init_writes_a_commented_config_with_no_hooks(cli, tmp_path):
    result = cli("init", "--path", tmp_path / "fresh", "--json")
    assert result.json["config_created"] is True
    text = (tmp_path / "fresh" / ".mlops" / "config.yaml").read_text()
    assert "hooks: []" in text and "# hooks:" in text
    from mlops_cli.events.config import parse

    assert parse(text).hooks == () and parse(text).problems == ()
    example = "\n".join(
        line[2:] for line in text.splitlines() if line.startswith("# ") and "hooks" not in line[:8]
    )
    assert "secret_env" in example


def test_second_command_reads_the_cached_config_without_importing_yaml(project):
    (project / ".mlops" / "config.yaml").write_text(
        "hooks:\n  - events: [gc]\n    url: http://127.0.0.1:9/\n"
    )
    code = (
        "import sys; from pathlib import Path; from mlops_cli.events.config import load\n"
        f"c = load(Path({str(project / '.mlops')!r}))\n"
        "print(len(c.hooks), 'yaml' in sys.modules)\n"
    )
    env = {**os.environ}
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert first.stdout.split() == ["1", "True"]
    assert second.stdout.split() == ["1", "False"]


def _pending_without_deliverer(project: Path, model_file: Path, count: int) -> None:
    """Commit `count` routed events from a process whose deliverer never starts (it dies first)."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from mlops_cli.events import routing
        from mlops_cli.models import manage
        from mlops_cli.models.registering import register_model
        from mlops_cli.store import db, open_store
        from pathlib import Path
        routing.install()
        db.AFTER_COMMIT.clear()
        store = open_store()
        register_model(store, Path({str(model_file)!r}), name="churn")
        for i in range({count - 1}):
            manage.tag_version(store, "churn:1", [f"k{{i}}=v"])
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=project, check=True, capture_output=True)


def test_two_deliverers_never_send_the_same_delivery_twice(cli, project, model_file):
    with Receiver(delay=0.05) as receiver:
        write_config(project, f"- events: ['*']\n  url: {receiver.url}\n")
        _pending_without_deliverer(project, model_file, 6)
        deliverers = [
            subprocess.Popen([sys.executable, "-m", "mlops_cli", "audit", "deliver"], cwd=project)
            for _ in range(2)
        ]
        assert [p.wait() for p in deliverers] == [0, 0]
    ids = [r["headers"]["X-MLflow-Delivery-Id"] for r in receiver.requests]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_a_deliverer_killed_mid_send_is_taken_over(cli, project, model_file):
    with Receiver(delay=3) as receiver:
        write_config(project, f"- events: [register]\n  url: {receiver.url}\n  timeout: 10\n")
        _pending_without_deliverer(project, model_file, 1)
        first = subprocess.Popen([sys.executable, "-m", "mlops_cli", "audit", "deliver"], cwd=project)
        deadline = time.monotonic() + 20
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert [d["status"] for d in cli("audit", "deliveries", "--json").json] == ["sending"]
        receiver.delay = 0
        taken = cli("audit", "deliver", "--json")
        assert taken.exit_code == 0 and taken.json["delivered"] == 1
    assert len(receiver.requests) == 2  # the killed attempt reached it; receivers dedupe by the id
    assert len({r["headers"]["X-MLflow-Delivery-Id"] for r in receiver.requests}) == 1


def test_a_slow_receiver_does_not_hold_the_command(cli, project, model_file):
    """The command returns while its delivery is still in flight: it never waits for the hook."""
    with Receiver(delay=3) as receiver:
        write_config(project, f"- events: [register]\n  url: {receiver.url}\n  timeout: 10\n")
        assert cli("register", model_file, "--name", "churn").exit_code == 0
        in_flight = cli("audit", "deliveries", "--json").json
        assert [d["status"] for d in in_flight] in (["pending"], ["sending"])
        rows = wait_for_deliveries(project / ".mlops")
    assert rows[0]["status"] == "delivered" and len(receiver.requests) == 1


def test_an_unknown_top_level_key_is_named_with_its_line(cli, project, model_file):
    (project / ".mlops" / "config.yaml").write_text("# settings\nhooks: []\nhookz:\n  - events: [register]\n")
    result = cli("register", model_file, "--name", "churn")
    assert result.exit_code == 0
    lines = result.stderr.strip().splitlines()
    where = project / ".mlops" / "config.yaml"
    assert lines == [f"warning: {where} line 3: unknown top-level key 'hookz' (known: hooks); ignored"]
