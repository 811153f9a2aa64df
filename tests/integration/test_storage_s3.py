# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""storage.open_input against a real S3-compatible server (moto on 127.0.0.1): the spooled read
equals the object, and an object replaced after it was listed fails the read."""

from __future__ import annotations

import os
import random

import pyarrow.parquet as pq
import pytest

from mlops_cli import storage
from mlops_cli.errors import MlopsError, NotFoundError
from mlops_cli.storage.spool import NEAR_END
from tests.cli.test_score_batch import make_table, write
from tests.s3_helpers import moto_server, s3  # noqa: F401
from tests.unit.test_storage_spool import spool_fds

pytestmark = pytest.mark.integration


def test_open_input_reads_equal_the_object_across_seeks(s3, tmp_path):
    data = random.Random(3).randbytes(NEAR_END + 3_000_000)
    s3.fs.pipe_file(f"{s3.name}/blob.bin", data)
    rnd = random.Random(4)
    with storage.open_input(s3.url("blob.bin")) as handle:
        for _ in range(100):
            where, size = rnd.randrange(len(data)), rnd.randrange(4 << 20)
            handle.seek(where)
            assert handle.read(size) == data[where : where + size]
        handle.seek(0)
        assert handle.read() == data
        assert all(target.endswith("(deleted)") for target in spool_fds().values())
    table = make_table(200_000)
    url = s3.put(write(table, tmp_path / "t.parquet"), "t.parquet")
    (listed,) = storage.list_inputs(url, (".parquet",))
    with storage.open_input(url, listed.size, listed.version) as handle:
        assert pq.ParquetFile(handle, pre_buffer=False, buffer_size=1 << 20).read().equals(table)
    for _ in range(200):  # the writer thread lets go of the spool once it sees the close
        if not spool_fds():
            break
        os.sched_yield()
    assert not spool_fds()


def test_an_object_replaced_after_listing_fails_the_read(s3):
    s3.fs.pipe_file(f"{s3.name}/x.csv", b"a,b\n" + b"1,2\n" * 100_000)
    (listed,) = storage.list_inputs(s3.url("x.csv"), (".csv",))
    s3.fs.pipe_file(f"{s3.name}/x.csv", b"a,b\n3,4\n")
    handle = storage.open_input(s3.url("x.csv"), listed.size, listed.version)
    with handle, pytest.raises(MlopsError, match="changed while it was being read") as caught:
        handle.read(10)
    assert caught.value.exit_code == 1
    with pytest.raises(NotFoundError):
        storage.open_input(s3.url("missing.csv"))


def test_a_header_check_reads_only_the_start_of_an_object(s3, monkeypatch):
    """columns_of on a CSV or JSON-lines object too large for one near-end read: the header
    comes from one ranged GET; the body's stream (and a spool file) never starts."""
    from mlops_cli.batch.inputs import columns_of, resolve_inputs
    from mlops_cli.storage.spool import SpooledObject

    s3.fs.pipe_file(f"{s3.name}/x.csv", b"a,b,c\n" + b"1,2,3\n" * (NEAR_END // 6 + 1000))
    s3.fs.pipe_file(f"{s3.name}/x.jsonl", b'\n{"a": 1, "b": 2}\n' * (NEAR_END // 17 + 1000))
    csv_file, json_file = resolve_inputs((s3.url("x.csv"), s3.url("x.jsonl")))
    assert csv_file.size > NEAR_END and json_file.size > NEAR_END

    def no_stream(self):
        raise AssertionError(f"{self.name}: the body's stream started for a header")

    monkeypatch.setattr(SpooledObject, "_start", no_stream)
    assert columns_of(csv_file) == ["a", "b", "c"]
    assert columns_of(json_file) == ["a", "b"]


def test_footers_are_reused_only_for_the_same_object_version(s3, tmp_path):
    url = s3.put(write(make_table(50_000), tmp_path / "a.parquet"), "t.parquet")
    (listed,) = storage.list_inputs(url, (".parquet",))
    for _ in range(2):
        with storage.open_input(url, listed.size, listed.version) as handle:
            assert "note" in pq.read_schema(handle).names
    s3.put(write(make_table(50_000).drop_columns(["note"]), tmp_path / "b.parquet"), "t.parquet")
    (relisted,) = storage.list_inputs(url, (".parquet",))
    assert relisted.version != listed.version
    with storage.open_input(url, relisted.size, relisted.version) as handle:
        assert "note" not in pq.read_schema(handle).names


def test_an_object_the_temp_disk_cannot_hold_is_read_by_ranges(s3, monkeypatch):
    """No spool when the temp folder's disk lacks room for the object: the ranged reader,
    with the same bytes and no spool file."""
    import shutil
    from collections import namedtuple

    from mlops_cli.storage import objects
    from mlops_cli.storage.spool import SpooledObject

    data = random.Random(5).randbytes(3_000_000)
    s3.fs.pipe_file(f"{s3.name}/big.bin", data)
    with storage.open_input(s3.url("big.bin")) as handle:
        assert isinstance(handle, SpooledObject)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 1 << 40, objects.SPOOL_MARGIN))
    with storage.open_input(s3.url("big.bin")) as handle:
        assert not isinstance(handle, SpooledObject)
        handle.seek(1_000_000)
        assert handle.read(10) == data[1_000_000:1_000_010]
        handle.seek(0)
        assert handle.read() == data
        assert not spool_fds()


def test_download_copies_the_listed_object_and_refuses_a_replaced_one(s3, tmp_path):
    """What the Spark engine reads S3 inputs through: the same bytes, and an object replaced
    since it was listed fails as a spooled read does (exit 1), whatever its size."""
    s3.fs.pipe_file(f"{s3.name}/x.csv", b"a,b\n" + b"1,2\n" * 1000)
    (listed,) = storage.list_inputs(s3.url("x.csv"), (".csv",))
    storage.download(listed.url, tmp_path / "copy.csv", listed.size, listed.version)
    assert (tmp_path / "copy.csv").read_bytes() == b"a,b\n" + b"1,2\n" * 1000
    s3.fs.pipe_file(f"{s3.name}/x.csv", b"a,b\n" + b"3,4\n" * 1000)  # same size, new ETag
    with pytest.raises(MlopsError, match="changed while it was being read") as caught:
        storage.download(listed.url, tmp_path / "again.csv", listed.size, listed.version)
    assert caught.value.exit_code == 1
