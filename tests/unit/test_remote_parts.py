"""The pieces of remotes that need no remote: URLs, the layout's records, chains, create-if-absent."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mlops_cli.domain import GENESIS_HASH, AuditEvent, chain_hash
from mlops_cli.errors import IntegrityError, UsageError
from mlops_cli.remote import layout
from mlops_cli.remote.folder import FolderBackend
from mlops_cli.remote.trail import _contiguous
from mlops_cli.remote.urls import normalise_url
from mlops_cli.store.remotes import chain_problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket/a/b/", "s3://bucket/a/b"),
        ("S3://bucket", "s3://bucket"),
        ("gs://b/p", "gs://b/p"),
        ("az://container/p", "az://container/p"),
    ],
)
def test_object_store_urls_are_normalised(text, expected):
    assert normalise_url(text) == expected


def test_folder_urls_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalise_url("shared/reg") == str(tmp_path / "shared" / "reg")
    assert normalise_url(f"file://{tmp_path}/x") == str(tmp_path / "x")


@pytest.mark.parametrize("text", ["", "ftp://h/p", "s3://", "s3://key:secret@bucket/p", "s3://b/p?x=1"])
def test_bad_urls_are_refused(text):
    with pytest.raises(UsageError):
        normalise_url(text)


def _state(files):
    from mlops_cli.domain import FileEntry, Manifest

    manifest = Manifest(tuple(FileEntry(p, s, m, d) for p, s, m, d in files))
    return {"name": "m", "version": 1, "digest": manifest.digest, "files": files, "datasets": []}


def test_a_version_record_must_hash_to_its_digest():
    files = [["model.onnx", 10, 0o644, "sha256:" + "a" * 64]]
    record = layout.version_record(_state(files), {"store": "x"}, "me")
    assert layout.parse_version(record, "here")["state"]["digest"] == _state(files)["digest"]
    tampered = json.loads(record)
    tampered["state"]["files"][0][3] = "sha256:" + "b" * 64
    with pytest.raises(IntegrityError, match="do not hash to its digest"):
        layout.parse_version(json.dumps(tampered).encode(), "here")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        layout.parse_version(b"{", "here")


def _chain(n: int) -> list[AuditEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        draft = AuditEvent(seq, "t", "register", f"m:{seq}", "a", "h", None, None, {}, prev, "")
        digest = chain_hash(prev, draft.chained_fields())
        events.append(AuditEvent(seq, "t", "register", f"m:{seq}", "a", "h", None, None, {}, prev, digest))
        prev = digest
    return events


def test_event_records_round_trip_and_chains_are_checked():
    events = _chain(3)
    assert [layout.parse_event(layout.event_record(e), "x") for e in events] == events
    assert chain_problems(events) == []
    assert chain_problems(events[1:], (1, events[0].hash)) == []
    assert "is missing" in chain_problems([events[0], events[2]])[0]
    altered = AuditEvent(**{**events[1].__dict__, "actor": "mallory"})
    assert "was altered" in chain_problems([events[0], altered, events[2]])[0]


def test_events_are_taken_up_to_the_first_gap():
    assert _contiguous({1, 2, 3, 5, 6}, 0) == [1, 2, 3]
    assert _contiguous({1, 2, 3, 5, 6}, 3) == []
    assert _contiguous({4, 5}, 3) == [4, 5]


def test_folder_create_if_absent_has_exactly_one_winner(tmp_path: Path):
    backend = FolderBackend(str(tmp_path / "remote"))
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def create(i: int) -> None:
        barrier.wait()
        results.append(backend.create("models/m/1.json", f"writer {i}".encode()))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert (tmp_path / "remote" / "models" / "m" / "1.json").read_text().startswith("writer ")
    assert not list((tmp_path / "remote" / "tmp").iterdir())


def test_folder_create_without_hard_links_still_has_one_winner(tmp_path: Path, monkeypatch):
    """FAT or an SMB share: link(2) fails with EPERM; O_EXCL creation decides instead."""
    import errno
    import os

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    backend = FolderBackend(str(tmp_path / "remote"))
    assert backend.create("models/m/1.json", b"first") is True
    assert backend.create("models/m/1.json", b"second") is False
    assert (tmp_path / "remote" / "models" / "m" / "1.json").read_bytes() == b"first"
