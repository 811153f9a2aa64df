import hashlib
import os
import stat

import pytest

from mlops_cli.errors import IntegrityError
from mlops_cli.store.cas import ObjectStore


@pytest.fixture
def objects(tmp_path):
    return ObjectStore(tmp_path / "objects", tmp_path / "tmp")


def test_put_hashes_copies_and_makes_read_only(objects, tmp_path):
    source = tmp_path / "f.bin"
    data = os.urandom(10 * 1024 * 1024 + 7)  # spans several chunks
    source.write_bytes(data)
    put = objects.put_file(source)
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert put.digest == expected and put.size == len(data) and put.written
    blob = objects.path_for(expected)
    assert blob.read_bytes() == data
    assert blob.relative_to(tmp_path / "objects").parts[:2] == ("sha256", expected[7:9])
    assert not stat.S_IMODE(blob.stat().st_mode) & 0o222
    assert list((tmp_path / "tmp").iterdir()) == []


def test_same_bytes_are_not_written_twice(objects, tmp_path):
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 1000)
    first = objects.put_file(source)
    blob = objects.path_for(first.digest)
    inode = blob.stat().st_ino
    os.utime(blob, (1, 1))
    again = objects.put_file(source, likely_present=True)
    assert again.digest == first.digest and not again.written
    copy = objects.put_file(source)  # even without the hint
    assert not copy.written
    assert blob.stat().st_ino == inode  # the same file, never rewritten...
    assert blob.stat().st_mtime > 1  # ...but touched, so gc's grace period covers its reuse


def test_stale_temp_files_of_dead_writers_are_cleaned(objects, tmp_path):
    (tmp_path / "tmp").mkdir()
    stale = tmp_path / "tmp" / "999999999-deadbeef.part"
    stale.write_bytes(b"partial")
    trash = tmp_path / "tmp" / "999999999-trash-cafe"  # an `rm` that died after its commit
    trash.mkdir()
    (trash / "blob").write_bytes(b"freed")
    mine = tmp_path / "tmp" / f"{os.getpid()}-cafe.part"
    mine.write_bytes(b"in progress")
    swept = objects.sweep_stale_temp()  # what opening a store does, before any command runs
    assert swept is not None and (swept.files, swept.bytes, swept.removed) == (2, 12, True)
    assert not stale.exists() and not trash.exists()
    assert mine.exists()


def test_verify_catches_a_flipped_byte(objects, tmp_path):
    source = tmp_path / "f.bin"
    source.write_bytes(b"hello world")
    put = objects.put_file(source)
    assert objects.verify(put.digest, put.size) is None
    blob = objects.path_for(put.digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"hello wOrld")
    assert "hashes to" in objects.verify(put.digest, put.size)


def test_materialise_refuses_a_corrupt_blob(objects, tmp_path):
    source = tmp_path / "f.bin"
    source.write_bytes(b"hello world")
    put = objects.put_file(source)
    blob = objects.path_for(put.digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"hello wOrld")
    with pytest.raises(IntegrityError, match="corrupt"):
        objects.materialise(put.digest, put.size, tmp_path / "out.bin", 0o644)
    assert not (tmp_path / "out.bin").exists()


def test_a_source_that_fails_to_read_is_a_clear_error_and_leaves_no_temp_file(objects, tmp_path):
    """Whoever runs the tests (root reads any file), opening a folder as a file fails for real."""
    from mlops_cli.errors import MlopsError

    folder = tmp_path / "not-a-file"
    folder.mkdir()
    with pytest.raises(MlopsError, match="cannot read"):
        objects.put_file(folder)
    assert not (tmp_path / "tmp").exists() or list((tmp_path / "tmp").iterdir()) == []
