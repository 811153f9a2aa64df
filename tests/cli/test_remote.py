"""`mlops remote`, `push` and `pull` against folder remotes: round trips, conflicts, damage, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.remote_helpers import ok, register_random
from tests.serving_helpers import make_project


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    """A folder remote's path; its parent (the share) exists, the first push makes it."""
    (tmp_path / "shared").mkdir()
    return tmp_path / "shared" / "registry"


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """A second store (another machine), addressed with --store."""
    return make_project(tmp_path / "other") / ".mlops"


def events(store_dir: Path) -> int:
    with sqlite3.connect(store_dir / "mlops.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_remote_add_list_remove_and_json_shapes(cli, project, remote_dir):
    first = ok(cli("remote", "add", "team", remote_dir, "--json")).json
    assert first == {
        "name": "team",
        "url": str(remote_dir),
        "default": True,
        "created_at": first["created_at"],
    }
    ok(cli("remote", "add", "backup", "s3://bucket/prefix/"))
    listed = ok(cli("remote", "list", "--json")).json
    assert [(r["name"], r["url"], r["default"]) for r in listed] == [
        ("backup", "s3://bucket/prefix", False),
        ("team", str(remote_dir), True),
    ]
    ok(cli("remote", "add", "backup", "s3://bucket/prefix", "--default"))
    assert [r["name"] for r in ok(cli("remote", "list", "--json")).json if r["default"]] == ["backup"]
    assert ok(cli("remote", "remove", "backup", "--json")).json["name"] == "backup"
    assert [r["name"] for r in ok(cli("remote", "list", "--json")).json] == ["team"]
    actions = [e["action"] for e in ok(cli("audit", "log", "--json")).json]
    assert actions.count("remote.add") == 3 and actions.count("remote.remove") == 1


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("remote", "add", "x", "ftp://host/path"), 2, "unsupported remote URL"),
        (("remote", "add", "x", "s3://"), 2, "no usable bucket"),
        (("remote", "add", "Bad Name", "/tmp/x"), 2, "invalid remote name"),
        (("remote", "remove", "nope"), 1, "no remote named 'nope'"),
        (("push", "--all", "--remote", "nope"), 1, "no remote named 'nope'"),
        (("pull", "--all"), 2, "no default remote"),
        (("push",), 2, "nothing to push"),
    ],
)
def test_bad_input_is_one_error_line(cli, project, args, code, words):
    before = events(project / ".mlops")
    result = cli(*args)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("error: ") and words in result.stderr
    assert result.stderr.count("\n") == 1
    assert events(project / ".mlops") == before


def test_push_then_pull_into_an_empty_store_verifies(cli, project, remote_dir, other):
    a = register_random(cli, project / "m1.bin")
    b = register_random(cli, project / "m2.bin")
    ok(cli("models", "tag", "churn:2", "stage=candidate"))
    ok(cli("remote", "add", "team", remote_dir))
    pushed = ok(cli("push", "--all", "--json")).json
    assert [(v["ref"], v["remote_ref"], v["status"]) for v in pushed["versions"]] == [
        ("churn:1", "churn:1", "uploaded"),
        ("churn:2", "churn:2", "uploaded"),
    ]
    assert pushed["blobs_uploaded"] == 2 and pushed["events_uploaded"] == events(project / ".mlops")
    # nothing new: no upload, no event
    again = ok(cli("push", "--all", "--json")).json
    assert again["versions"] == [] and again["up_to_date"] == 2 and again["events_uploaded"] == 0
    # the remote is owner-only, like the store
    assert (remote_dir.stat().st_mode & 0o077) == 0

    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    pulled = ok(cli("pull", "churn", "--json", "--store", other)).json  # NAME: the remote's latest
    assert [(v["ref"], v["digest"]) for v in pulled["versions"]] == [("churn:2", b["digest"])]
    ok(cli("pull", "--all", "--store", other))
    shown = ok(cli("models", "show", "churn:2", "--json", "--store", other)).json
    assert shown["digest"] == b["digest"] and shown["tags"] == {"stage": "candidate"}
    assert shown["created_by"] == b["created_by"] and shown["created_at"] == b["created_at"]
    assert ok(cli("models", "show", "churn:1", "--json", "--store", other)).json["digest"] == a["digest"]
    verified = ok(cli("audit", "verify", "--json", "--store", other)).json
    assert verified["ok"] and verified["versions"] == 2
    pulls = ok(cli("audit", "log", "--action", "pull", "--json", "--store", other)).json
    assert {e["details"]["origin"]["ref"] for e in pulls} == {"churn:1", "churn:2"}
    # the files come out as they went in
    ok(cli("models", "download", "churn:1", "-o", project / "back", "--store", other))
    assert (project / "back" / "m1.bin").read_bytes() == (project / "m1.bin").read_bytes()


def test_conflict_is_refused_with_both_digests_then_renumbered(cli, project, remote_dir, other):
    mine = register_random(cli, project / "mine.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "churn:1"))
    theirs = register_random(cli, project / "theirs.bin", store=other)
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    record = (remote_dir / "models" / "churn" / "1.json").read_bytes()
    before = events(other)

    refused = cli("push", "churn:1", "--store", other)
    assert refused.exit_code == 6, refused.stderr
    assert mine["digest"] in refused.stderr and theirs["digest"] in refused.stderr
    assert "--renumber" in refused.stderr and refused.stderr.count("\n") == 1
    assert (remote_dir / "models" / "churn" / "1.json").read_bytes() == record
    assert events(other) == before

    renumbered = ok(cli("push", "churn:1", "--renumber", "--json", "--store", other)).json
    assert [(v["ref"], v["remote_ref"], v["status"]) for v in renumbered["versions"]] == [
        ("churn:1", "churn:2", "renumbered")
    ]
    # the mapping is recorded: the next push has nothing to do, without --renumber
    assert ok(cli("push", "churn:1", "--json", "--store", other)).json["up_to_date"] == 1
    # and the first machine gets it as churn:2
    pulled = ok(cli("pull", "churn:2", "--json")).json
    assert [(v["ref"], v["digest"]) for v in pulled["versions"]] == [("churn:2", theirs["digest"])]
    assert ok(cli("audit", "verify", "--json")).json["ok"]


def test_pull_into_a_taken_number_takes_the_next_and_says_so(cli, project, remote_dir, other):
    theirs = register_random(cli, project / "theirs.bin", store=other)
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    ok(cli("push", "--all", "--store", other))
    register_random(cli, project / "mine.bin")
    ok(cli("remote", "add", "team", remote_dir))
    result = ok(cli("pull", "churn:1", "--json"))
    assert [(v["ref"], v["remote_ref"]) for v in result.json["versions"]] == [("churn:2", "churn:1")]
    assert "pulled as churn:2" in result.stderr
    assert ok(cli("models", "show", "churn:2", "--json")).json["digest"] == theirs["digest"]
    assert ok(cli("pull", "churn:1", "--json")).json["up_to_date"] == 1
    assert ok(cli("audit", "verify", "--json")).json["ok"]


def _blob_file(remote_dir: Path, digest: str) -> Path:
    hexdigest = digest.split(":")[1]
    return remote_dir / "blobs" / "sha256" / hexdigest[:2] / hexdigest[2:]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_damaged_or_missing_blob_on_the_remote_is_refused_and_nothing_lands(
    cli, project, remote_dir, other, damage
):
    version = register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    blob = _blob_file(remote_dir, version["files"][0]["digest"])
    if damage == "corrupt":
        blob.chmod(0o600)
        data = bytearray(blob.read_bytes())
        data[100] ^= 0xFF
        blob.write_bytes(bytes(data))
    else:
        blob.unlink()
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    before = events(other)
    result = cli("pull", "churn:1", "--store", other)
    assert result.exit_code == 5, result.stderr
    assert (
        result.stderr.startswith("error: blob ")
        and ("corrupt" if damage == "corrupt" else "missing") in result.stderr
    )
    assert events(other) == before
    assert not any((other / "objects").rglob("*")) or not [
        p for p in (other / "objects").rglob("*") if p.is_file()
    ]
    assert not [p for p in (other / "tmp").iterdir()]
    assert cli("models", "show", "churn:1", "--store", other).exit_code == 1
    # a plain push sees the blob's name (and, when only corrupt, its size) and skips it;
    # --verify re-hashes it there and uploads it again
    repaired = ok(cli("push", "--all", "--verify", "--json")).json
    assert repaired["blobs_uploaded"] == 1 and repaired["versions"] == []
    ok(cli("pull", "churn:1", "--store", other))
    assert ok(cli("audit", "verify", "--json", "--store", other)).json["ok"]


def test_a_tampered_event_on_the_remote_stops_the_pull(cli, project, remote_dir, other):
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    origin = next((remote_dir / "events").iterdir())
    first = origin / "000000000001.json"
    record = json.loads(first.read_text())
    record["actor"] = "mallory@example.com"
    first.chmod(0o600)
    first.write_text(json.dumps(record))
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    result = cli("pull", "--all", "--store", other)
    assert result.exit_code == 5 and "not a chain" in result.stderr, result.stderr
    assert cli("models", "show", "churn:1", "--store", other).exit_code == 1


def test_audit_verify_checks_the_pulled_chains(cli, project, remote_dir, other):
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    ok(cli("pull", "--all", "--store", other))
    assert ok(cli("audit", "verify", "--store", other))
    with sqlite3.connect(other / "mlops.db") as conn:  # what a tamperer with the file could do
        conn.execute("DROP TRIGGER pulled_events_no_update")
        conn.execute("UPDATE pulled_events SET actor = 'mallory' WHERE seq = 1")
    result = cli("audit", "verify", "--store", other)
    assert result.exit_code == 5 and "pulled events of store" in result.stderr, result.stderr


def test_pulled_events_travel_on_with_their_origin(cli, project, remote_dir, other, tmp_path):
    """A pushes to R1; B pulls from R1 and pushes to R2; C pulls from R2 and has A's chain too."""
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "one", remote_dir))
    ok(cli("push", "--all"))
    second = tmp_path / "second-remote"
    ok(cli("remote", "add", "one", remote_dir, "--store", other))
    ok(cli("remote", "add", "two", second, "--store", other))
    ok(cli("pull", "--all", "--remote", "one", "--store", other))
    ok(cli("push", "--all", "--remote", "two", "--store", other))
    third = make_project(tmp_path / "third") / ".mlops"
    ok(cli("remote", "add", "two", second, "--store", third))
    ok(cli("pull", "--all", "--store", third))
    assert len(list((second / "events").iterdir())) == 2  # A's and B's logs
    with sqlite3.connect(third / "mlops.db") as conn:
        origins = {row[0] for row in conn.execute("SELECT DISTINCT origin FROM pulled_events")}
    assert len(origins) == 2
    assert ok(cli("audit", "verify", "--json", "--store", third)).json["ok"]


def test_pull_of_a_folder_that_is_not_a_remote(cli, project, tmp_path):
    ok(cli("remote", "add", "gone", tmp_path / "does-not-exist"))
    result = cli("pull", "--all")
    assert result.exit_code == 4 and "does not exist or is not reachable" in result.stderr
    (tmp_path / "empty").mkdir()
    ok(cli("remote", "add", "empty", tmp_path / "empty"))
    result = cli("pull", "--all", "--remote", "empty")
    assert result.exit_code == 4 and "holds no mlops remote yet" in result.stderr
    # a push creates the folder, but not its parents: a typo or an unmounted share is an error
    register_random(cli, project / "m.bin")
    before = events(project / ".mlops")
    ok(cli("remote", "add", "typo", tmp_path / "no-such-share" / "registry"))
    result = cli("push", "--all", "--remote", "typo")
    assert result.exit_code == 4 and "is the share mounted?" in result.stderr, result.stderr
    assert not (tmp_path / "no-such-share").exists()
    assert events(project / ".mlops") == before + 1  # the remote add, nothing from the push


def test_pull_of_what_the_remote_lacks(cli, project, remote_dir):
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    for ref, words in [
        ("churn:7", "has no churn:7"),
        ("other", "has no model 'other'"),
        ("churn@prod", "aliases"),
    ]:
        result = cli("pull", ref)
        assert result.exit_code in (1, 2) and words in result.stderr, result.stderr


def test_a_killed_push_leftover_is_swept_after_a_day(cli, project, remote_dir):
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    old, fresh = remote_dir / "tmp" / "4242-dead.part", remote_dir / "tmp" / "4243-busy.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    day_ago = os.stat(old).st_mtime - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    register_random(cli, project / "m2.bin")
    ok(cli("push", "--all"))
    assert not old.exists() and fresh.exists()


def test_a_hole_in_an_event_log_waits_for_the_next_push(cli, project, remote_dir, other):
    """A push killed while it uploaded events in parallel can leave a gap: pull takes the events
    before it (and the versions), the rest comes once the origin pushes again."""
    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    log = next((remote_dir / "events").iterdir())
    total = len(list(log.iterdir()))
    (log / "000000000002.json").unlink()
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    assert ok(cli("pull", "--all", "--json", "--store", other)).json["events_pulled"] == 1
    assert ok(cli("push", "--all", "--json")).json["events_uploaded"] == 1
    assert ok(cli("pull", "--all", "--json", "--store", other)).json["events_pulled"] == total - 1
    assert ok(cli("audit", "verify", "--json", "--store", other)).json["ok"]


def test_a_version_record_with_an_unsafe_path_is_refused_at_pull(cli, project, remote_dir, other):
    """A crafted record whose file list hashes to its digest but names `../x`: refused before
    anything lands (the one stored-path check, relpaths.py)."""
    from mlops_cli.domain import FileEntry, Manifest

    register_random(cli, project / "m.bin")
    ok(cli("remote", "add", "team", remote_dir))
    ok(cli("push", "--all"))
    record_file = remote_dir / "models" / "churn" / "1.json"
    record = json.loads(record_file.read_text())
    state = record["state"]
    state["files"] = [["../../evil.bin", *entry[1:]] for entry in state["files"]]
    state["digest"] = Manifest(tuple(FileEntry(p, int(s), int(m), d) for p, s, m, d in state["files"])).digest
    record_file.chmod(0o600)
    record_file.write_text(json.dumps(record))
    ok(cli("remote", "add", "team", remote_dir, "--store", other))
    before = events(other)
    result = cli("pull", "churn:1", "--store", other)
    assert result.exit_code == 5 and "unsafe file path" in result.stderr, result.stderr
    assert events(other) == before
