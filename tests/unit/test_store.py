import sqlite3

import pytest

from mlops_cli.errors import StoreError, StoreNotFoundError
from mlops_cli.store import open_store
from mlops_cli.store.migrations import SCHEMA_VERSION
from mlops_cli.store.project import find_store


def test_store_is_found_walking_up(project):
    nested = project / "a" / "b"
    nested.mkdir(parents=True)
    assert find_store(start=nested).root == project / ".mlops"


def test_no_store_is_exit_code_3(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreNotFoundError) as caught:
        find_store(start=tmp_path)
    assert caught.value.exit_code == 3


def test_env_var_names_the_store(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_STORE", str(project))
    assert find_store().root == project / ".mlops"


def test_pragmas_and_schema(store):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(project):
    conn = sqlite3.connect(project / ".mlops" / "mlops.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this mlops"):
        open_store()


def test_audit_events_cannot_be_edited_through_sql(store):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE events SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM events")


def test_a_new_store_is_owner_only(tmp_path):
    """Other local users cannot read the registry, the trail or the blobs (umask 022 gave 0755)."""
    import stat

    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store import init_store

    store, created = init_store(tmp_path / "p", provenance())
    store.close()
    assert created and stat.S_IMODE((tmp_path / "p" / ".mlops").stat().st_mode) == 0o700
