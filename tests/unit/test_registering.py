"""A registration interrupted midway (Ctrl-C, a crash) leaves nothing behind."""

import os
from contextlib import contextmanager

import pytest

from mlops_cli.cli.errors import report
from mlops_cli.models.registering import register_model
from mlops_cli.store import registry


class InterruptAfter:
    """A progress sink that presses Ctrl-C after `chunks` chunks have been copied."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks

    @contextmanager
    def task(self, description, total):
        def advance(amount):
            self.left -= 1
            if self.left < 0:
                raise KeyboardInterrupt

        yield advance


def test_interrupt_midway_leaves_no_blob_temp_file_or_version(store, project):
    first = project / "a.bin"
    first.write_bytes(os.urandom(1024))
    second = project / "b.bin"
    second.write_bytes(os.urandom(9 * 1024 * 1024))  # three chunks
    folder = project / "model"
    folder.mkdir()
    first.rename(folder / "a.bin")
    second.rename(folder / "b.bin")
    with pytest.raises(KeyboardInterrupt):
        register_model(store, folder, name="m", progress=InterruptAfter(2))
    assert [p for p in store.paths.objects.rglob("*") if p.is_file()] == []
    assert list(store.paths.tmp.iterdir()) == []
    assert registry.list_models(store.conn) == []


def test_interrupt_keeps_blobs_that_other_versions_use(store, project):
    shared = project / "shared.bin"
    shared.write_bytes(os.urandom(2048))
    kept = register_model(store, shared, name="kept")
    folder = project / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(shared.read_bytes())
    (folder / "z.bin").write_bytes(os.urandom(9 * 1024 * 1024))
    with pytest.raises(KeyboardInterrupt):
        register_model(store, folder, name="m", progress=InterruptAfter(2))
    assert store.objects.has(kept.files[0].digest)
    # kept's file and the environment snapshot its metadata names
    assert len([p for p in store.paths.objects.rglob("*") if p.is_file()]) == 2


def test_interrupt_exit_code_is_130(capsys):
    assert report(KeyboardInterrupt()) == 130
    assert capsys.readouterr().err == "error: interrupted\n"
