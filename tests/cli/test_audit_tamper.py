"""Tampering done as an attacker would, with sqlite3 on `.mlops/mlops.db` (guard triggers
dropped first): every change must end in `audit verify` exit 5 naming what differs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest


def tamper(project: Path, *statements: str) -> None:
    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.fixture
def two_versions(cli, project):
    first, second = project / "a.bin", project / "b.bin"
    first.write_bytes(os.urandom(3000))
    second.write_bytes(os.urandom(4000))
    assert cli("register", first, "--name", "m", "-m", "first", "--tag", "team=a").exit_code == 0
    assert cli("register", second, "--name", "m", "-m", "second").exit_code == 0
    assert cli("models", "alias", "m:1", "prod").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
    return project


def _problems(cli, *extra: str) -> list[str]:
    result = cli("audit", "verify", "--json", *extra)
    assert result.exit_code == 5, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    return result.json["problems"]


VERSION_1 = "(SELECT v.id FROM versions v WHERE v.version = 1)"
VERSION_2 = "(SELECT v.id FROM versions v WHERE v.version = 2)"


def test_an_alias_repointed_in_the_table(cli, two_versions):
    tamper(two_versions, f"UPDATE aliases SET version_id = {VERSION_2}")
    assert _problems(cli) == ["alias m@prod: table says m:2, trail says m:1"]


def test_a_file_digest_swapped_for_another_existing_blob(cli, two_versions):
    tamper(
        two_versions,
        f"UPDATE files SET digest = (SELECT digest FROM files WHERE version_id = {VERSION_2}),"
        f" size = (SELECT size FROM files WHERE version_id = {VERSION_2}) WHERE version_id = {VERSION_1}",
    )
    problems = _problems(cli)
    assert any(p.startswith("version m:1 files: the table's files hash to") for p in problems)


def test_a_swapped_digest_with_the_version_digest_edited_too(cli, two_versions):
    tamper(
        two_versions,
        f"UPDATE files SET digest = (SELECT digest FROM files WHERE version_id = {VERSION_2}),"
        f" size = (SELECT size FROM files WHERE version_id = {VERSION_2}) WHERE version_id = {VERSION_1}",
        f"UPDATE versions SET digest = (SELECT digest FROM versions WHERE id = {VERSION_2})"
        f" WHERE id = {VERSION_1}",
    )
    problems = _problems(cli)
    assert any(p.startswith("version m:1 digest: table says") for p in problems)


def test_a_message_edited(cli, two_versions):
    tamper(two_versions, "UPDATE versions SET message = 'nothing to see' WHERE version = 1")
    assert _problems(cli) == ["version m:1 message: table says 'nothing to see', trail says 'first'"]


def test_a_tag_changed_added_and_removed(cli, two_versions):
    tamper(
        two_versions,
        "UPDATE tags SET value = 'b' WHERE key = 'team'",
        f"INSERT INTO tags (version_id, key, value) VALUES ({VERSION_2}, 'approved', 'yes')",
    )
    assert _problems(cli) == [
        "version m:1 tag team: table says 'b', trail says 'a'",
        "version m:2 tag approved: table says 'yes', trail says no such tag",
    ]


def test_a_version_deleted_and_one_added(cli, two_versions):
    tamper(
        two_versions,
        f"DELETE FROM aliases WHERE version_id = {VERSION_1}",
        f"DELETE FROM files WHERE version_id = {VERSION_1}",
        f"DELETE FROM tags WHERE version_id = {VERSION_1}",
        "DELETE FROM versions WHERE version = 1",
        "INSERT INTO versions (model_id, version, digest, framework, size, created_at, created_by, host)"
        " SELECT model_id, 3, digest, framework, size, created_at, created_by, host"
        " FROM versions WHERE version = 2",
    )
    problems = _problems(cli)
    assert "version m:1: in the trail, missing from the table" in problems
    assert "version m:3: in the table, not in the trail" in problems
    assert "alias m@prod: table says nothing, trail says m:1" in problems


def test_the_last_event_deleted(cli, two_versions):
    tamper(two_versions, "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
    problems = _problems(cli)
    assert any("does not reach the head recorded" in p and "were removed" in p for p in problems)


def test_the_last_event_and_the_head_file_deleted(cli, two_versions):
    tamper(two_versions, "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
    (two_versions / ".mlops" / "audit-head").unlink()
    problems = _problems(cli)
    assert any("head file" in p and "is missing" in p for p in problems)


def test_an_event_rewritten_with_a_recomputed_chain_is_caught_by_a_recorded_head(cli, two_versions):
    """A tamperer who recomputes every hash keeps the chain valid: only a head kept elsewhere
    (printed by `audit head` into CI logs or git) shows it."""
    from mlops_cli.domain import GENESIS_HASH, chain_hash
    from mlops_cli.store.events import event_from_row

    recorded = cli("audit", "head").stdout.strip()
    conn = sqlite3.connect(two_versions / ".mlops" / "mlops.db")
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER events_no_update")
    prev = GENESIS_HASH
    for row in conn.execute("SELECT * FROM events ORDER BY seq").fetchall():
        event = event_from_row(row)
        fields = event.chained_fields()
        if event.action == "alias":
            fields["message"] = "rewritten"
        digest = chain_hash(prev, fields)
        conn.execute(
            "UPDATE events SET message = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (fields["message"], prev, digest, event.seq),
        )
        prev = digest
    conn.commit()
    conn.close()
    (two_versions / ".mlops" / "audit-head").write_text(f"{cli('audit', 'head').stdout.strip()}\n")
    assert cli("audit", "verify").exit_code == 0  # nothing inside the store can tell
    problems = _problems(cli, "--head", recorded)
    assert any(p.startswith("the trail does not reach the given head") for p in problems)


def test_verify_head_accepts_an_older_head_and_refuses_garbage(cli, two_versions):
    recorded = cli("audit", "head", "--json").json
    assert recorded["head"] == f"{recorded['seq']}:{recorded['hash']}"
    assert cli("models", "tag", "m:2", "x=1").exit_code == 0
    assert cli("audit", "verify", "--head", recorded["head"]).exit_code == 0
    bad = cli("audit", "verify", "--head", "12:nothex")
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.stderr


def test_a_store_from_before_events_carried_state_still_verifies(cli, two_versions):
    """Events written by earlier mlops lack `state`: verify compares what they carry."""
    import json

    conn = sqlite3.connect(two_versions / ".mlops" / "mlops.db")
    conn.execute("DROP TRIGGER events_no_update")
    for seq, details in conn.execute("SELECT seq, details FROM events").fetchall():
        data = json.loads(details)
        data.pop("state", None)
        conn.execute("UPDATE events SET details = ? WHERE seq = ?", (json.dumps(data, sort_keys=True), seq))
    conn.commit()
    conn.close()
    # The hashes no longer match after the edit: re-chain as the landed code would have.
    _rechain(two_versions)
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0, result.stdout
    assert result.json["legacy_events"] == 3
    tamper(two_versions, f"UPDATE aliases SET version_id = {VERSION_2}")
    assert _problems(cli) == ["alias m@prod: table says m:2, trail says m:1"]


def _rechain(project: Path) -> None:
    from mlops_cli.domain import GENESIS_HASH, chain_hash
    from mlops_cli.store.events import event_from_row

    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.row_factory = sqlite3.Row
    prev = GENESIS_HASH
    for row in conn.execute("SELECT * FROM events ORDER BY seq").fetchall():
        digest = chain_hash(prev, event_from_row(row).chained_fields())
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row["seq"]))
        prev = digest
    conn.commit()
    conn.close()
    head = project / ".mlops" / "audit-head"
    seq = int(head.read_text().split(":")[0])
    head.write_text(f"{seq}:{prev}\n")


def test_other_features_events_are_ignored_by_replay(cli, two_versions, store):
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store.db import transaction
    from mlops_cli.store.events import append_event

    with transaction(store.conn):
        append_event(store.conn, "deploy.create", "web", provenance(), {"model": "m:1", "port": 8080})
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 0 and result.json["head"].startswith(f"{result.json['events']}:")


def test_artifacts_and_jobs_are_replayed(cli, two_versions, store):
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.domain import ModelRef
    from mlops_cli.store import jobs

    jobs.add_artifact(
        store.conn, ModelRef.parse("m:1"), "image", "m:1", "sha256:" + "1" * 64, {}, provenance()
    )
    jobs.add_artifact(store.conn, ModelRef.parse("m:2"), "profile", "p", None, {"cpu": 1.0}, provenance())
    jobs.create_job(store.conn, "sb-1", "score-batch", "m:2", "sha256:" + "2" * 64, {}, provenance())
    jobs.finish_job(store.conn, "sb-1", "completed", {"rows_read": 3}, provenance())
    assert cli("audit", "verify").exit_code == 0
    tamper(
        two_versions,
        "DELETE FROM artifacts WHERE kind = 'image'",
        "UPDATE artifacts SET ref = 'q' WHERE kind = 'profile'",
        "UPDATE jobs SET status = 'failed'",
    )
    assert _problems(cli) == [
        "artifact image m:1 of m:1: in the trail, missing from the table",
        "artifact profile q of m:2: in the table, not in the trail",
        "artifact profile p of m:2: in the trail, missing from the table",
        "job sb-1 status: table says 'failed', trail says 'completed'",
    ]
