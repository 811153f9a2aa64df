import sqlite3


def test_every_change_is_logged_with_actor_and_message(cli, model_file):
    cli("register", model_file, "--name", "churn", "-m", "why not")
    cli("models", "tag", "churn:1", "a=1")
    cli("models", "alias", "churn:1", "champion")
    events = cli("audit", "log", "--json").json
    assert [e["action"] for e in events] == ["alias", "tag", "register", "init"]
    register = events[2]
    assert register["subject"] == "churn:1"
    assert register["actor"] == "tester@example.com"
    assert register["message"] == "why not"
    assert register["details"]["digest"].startswith("sha256:")
    assert events[0]["prev_hash"] == events[1]["hash"]


def test_log_filters(cli, model_file):
    cli("register", model_file, "--name", "churn")
    cli("register", model_file, "--name", "fraud")
    cli("models", "tag", "churn:1", "a=1")
    assert {e["subject"] for e in cli("audit", "log", "--model", "churn", "--json").json} == {"churn:1"}
    assert [e["action"] for e in cli("audit", "log", "--action", "tag", "--json").json] == ["tag"]
    assert len(cli("audit", "log", "--limit", "2", "--json").json) == 2
    assert len(cli("audit", "log", "--since", "1h", "--json").json) == 4
    assert cli("audit", "log", "--since", "2999-01-01", "--json").json == []
    bad = cli("audit", "log", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "--since" in bad.stderr


def test_verify_passes_then_catches_an_edited_event(cli, model_file, project):
    cli("register", model_file, "--name", "churn")
    ok = cli("audit", "verify", "--json")
    assert ok.exit_code == 0 and ok.json["ok"] is True
    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.execute("DROP TRIGGER events_no_update")  # what a determined tamperer would do
    conn.execute("UPDATE events SET actor = 'mallory' WHERE action = 'register'")
    conn.commit()
    conn.close()
    result = cli("audit", "verify")
    assert result.exit_code == 5
    assert "event 2 (register churn:1) was altered" in result.stderr


def test_verify_catches_a_deleted_event(cli, model_file, project):
    cli("register", model_file, "--name", "churn")
    cli("models", "tag", "churn:1", "a=1")
    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("DELETE FROM events WHERE seq = 2")
    conn.commit()
    conn.close()
    result = cli("audit", "verify")
    assert result.exit_code == 5 and "event 2 is missing" in result.stderr


def test_verify_catches_a_flipped_blob_byte(cli, model_file, store):
    record = cli("register", model_file, "--name", "churn", "--json").json
    blob = store.objects.path_for(record["files"][0]["digest"])
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = cli("audit", "verify", "--json")
    assert result.exit_code == 5
    assert f"blob {record['files'][0]['digest']}" in result.stderr
    assert result.json["ok"] is False


def test_verify_catches_a_missing_blob(cli, model_file, store):
    record = cli("register", model_file, "--name", "churn", "--json").json
    store.objects.path_for(record["files"][0]["digest"]).unlink()
    result = cli("audit", "verify")
    assert result.exit_code == 5 and "missing" in result.stderr
