"""storage/spool.py: an object read through a local spool file, written by a thread as it arrives."""

from __future__ import annotations

import os
import random
import stat
import threading

import pytest

from mlops_cli.errors import NotFoundError
from mlops_cli.storage import errors
from mlops_cli.storage.spool import HEAD, NEAR_END, TAIL, SpooledObject

DATA = random.Random(7).randbytes(NEAR_END + 5 * TAIL + 12_345)


def spool_fds() -> dict[int, str]:
    """This process's open spool files by descriptor (they have no name left: '(deleted)')."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed since
            continue
        if "mlops-spool-" in target:
            found[int(fd)] = target
    return found


class Source:
    """A fake object: ranged reads and a stream in 100 kB pieces, optionally gated or failing."""

    def __init__(
        self, data: bytes = DATA, fail_after: int | None = None, gate: threading.Event | None = None
    ):
        self.data = data
        self.fail_after = fail_after
        self.gate = gate
        self.ranges: list[tuple[int, int]] = []
        self.streams = 0
        self.seen_in_stream: dict[str, object] = {}
        self.stopped = threading.Event()

    def fetch_range(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return self.data[start:end]

    def stream(self):
        self.streams += 1
        try:
            for start in range(0, len(self.data), 100_000):
                if self.gate is not None:
                    self.gate.wait(10)
                if self.fail_after is not None and start >= self.fail_after:
                    raise FileNotFoundError("NoSuchKey: gone mid-way")
                yield self.data[start : start + 100_000]
        finally:
            self.stopped.set()

    def open(self, tmp_path, peek: bool = False) -> SpooledObject:
        return SpooledObject(
            "s3://b/k", len(self.data), self.fetch_range, self.stream, lambda: errors("s3://b/k"), peek=peek
        )


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_reads_equal_the_source_across_seeks(tmp_path, private_tmp):
    source = Source()
    rnd = random.Random(1)
    with source.open(tmp_path) as handle:
        for _ in range(300):
            where, size = rnd.randrange(len(DATA) + 10), rnd.randrange(2 * TAIL)
            handle.seek(where)
            assert handle.read(size) == DATA[where : where + size]
            assert handle.tell() == min(where + size, len(DATA)) or where > len(DATA)
        handle.seek(-10, os.SEEK_END)
        assert handle.read() == DATA[-10:]
        handle.seek(0)
        assert handle.readline() == DATA[: DATA.index(b"\n") + 1]
        buffer = bytearray(1000)
        handle.seek(77)
        assert handle.readinto(buffer) == 1000 and bytes(buffer) == DATA[77:1077]
        assert spool_fds() and all("(deleted)" in target for target in spool_fds().values())
    assert source.streams == 1  # one streaming request, whatever the seeks
    assert len(source.ranges) <= 2  # the tail, or a read near the end before the body started
    source.stopped.wait(10)
    assert not spool_fds() and not os.listdir(private_tmp)


def test_footer_reads_never_start_the_body(tmp_path):
    source = Source()
    with source.open(tmp_path) as handle:
        handle.seek(-65_536, os.SEEK_END)
        assert handle.read() == DATA[-65_536:]
        handle.seek(-3 * TAIL, os.SEEK_END)  # a footer wider than TAIL
        assert handle.read(2 * TAIL) == DATA[-3 * TAIL : -TAIL]
    assert source.streams == 0 and len(source.ranges) == 2


def test_a_peek_at_the_first_line_never_starts_the_body(tmp_path):
    """A header check reads the first HEAD bytes by one ranged request; a first line longer
    than that goes on in the body's stream, and reads equal the object either way."""
    source = Source()
    with source.open(tmp_path, peek=True) as handle:
        assert handle.readline() == DATA[: DATA.index(b"\n") + 1]
        handle.seek(100)
        assert handle.read(1000) == DATA[100:1100]
    assert source.streams == 0 and source.ranges == [(0, HEAD)]
    long_line = b"x" * (HEAD + 5000) + b"\n" + DATA
    source = Source(long_line)
    with source.open(tmp_path, peek=True) as handle:
        assert handle.readline() == long_line[: HEAD + 5001]
    assert source.streams == 1 and source.ranges == [(0, HEAD)]
    source = Source()
    with source.open(tmp_path) as handle:  # a whole read: the stream from the first byte
        assert handle.readline() == DATA[: DATA.index(b"\n") + 1]
    assert source.streams == 1 and source.ranges == []


def test_small_objects_are_one_ranged_request(tmp_path):
    source = Source(DATA[:5000])
    with source.open(tmp_path) as handle:
        assert handle.read() == DATA[:5000]
    assert source.streams == 0 and source.ranges == [(0, 5000)]


def test_spool_is_owner_only_and_unnamed_while_written(tmp_path, private_tmp):
    gate = threading.Event()
    source = Source(gate=gate)
    with source.open(tmp_path) as handle:
        reader = threading.Thread(target=handle.read, args=(10,))
        reader.start()  # waits for the first piece, held back by the gate
        for _ in range(200):
            if spool_fds():
                break
            threading.Event().wait(0.01)
        ((fd, target),) = spool_fds().items()
        assert target.endswith("(deleted)") and not os.listdir(private_tmp)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
        gate.set()
        reader.join(10)


def test_closing_mid_way_stops_the_stream_and_frees_the_spool(tmp_path, private_tmp):
    gate = threading.Event()
    source = Source(gate=gate)
    handle = source.open(tmp_path)
    gate.set()
    assert handle.read(150_000) == DATA[:150_000]
    gate.clear()
    handle.close()
    gate.set()
    assert source.stopped.wait(10)
    for _ in range(200):
        if not spool_fds():
            break
        threading.Event().wait(0.01)
    assert not spool_fds() and not os.listdir(private_tmp)
    with pytest.raises(ValueError):
        handle.read(1)


def test_an_error_mid_way_reaches_the_reader_mapped_and_frees_the_spool(tmp_path, private_tmp):
    source = Source(fail_after=2 * TAIL)
    with source.open(tmp_path) as handle:
        assert handle.read(TAIL) == DATA[:TAIL]
        with pytest.raises(NotFoundError, match="gone mid-way"):
            handle.read(3 * TAIL)
    assert source.stopped.wait(10)
    assert not spool_fds() and not os.listdir(private_tmp)


def test_a_local_write_failure_is_not_blamed_on_the_store(tmp_path, monkeypatch):
    import errno

    from mlops_cli.errors import MlopsError
    from mlops_cli.storage import StorageError

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with Source().open(tmp_path) as handle, pytest.raises(MlopsError, match="No space left") as caught:
        handle.read(10)
    assert not isinstance(caught.value, StorageError) and caught.value.exit_code == 1
    assert "TMPDIR" in caught.value.hint
