"""`register` input papercuts: `register .`, the store itself, empty model files."""

import os

from tests.cli.test_register import tmpfs  # noqa: F401 - the fixture


def _files_of(cli, ref):
    return [f["path"] for f in cli("models", "show", ref, "--json").json["files"]]


def test_register_dot_skips_the_live_store_and_is_named_after_the_folder(cli, project):
    (project / "weights.bin").write_bytes(os.urandom(64))
    (project / "sub").mkdir()
    (project / "sub" / "config.json").write_text("{}")
    # The live database has -wal/-shm files next to it while open; they must not be copied.
    result = cli("register", ".", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["name"] == "project"
    assert _files_of(cli, "project:1") == ["sub/config.json", "weights.bin"]


def test_another_projects_store_inside_the_folder_is_skipped_too(cli, project, tmp_path):
    folder = project / "bundle"
    folder.mkdir()
    (folder / "model.bin").write_bytes(os.urandom(64))
    assert cli("init", "--path", folder).exit_code == 0
    result = cli("register", folder, "--json")
    assert result.exit_code == 0, result.stderr
    assert _files_of(cli, "bundle:1") == ["model.bin"]


def test_registering_the_store_itself_is_refused(cli, project):
    for target in (".mlops", ".mlops/objects", str(project / ".mlops" / "mlops.db")):
        result = cli("register", target, "--name", "store")
        assert result.exit_code == 2, (target, result.stderr)
        assert "is the mlops store" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert cli("models", "list", "--json").json == []


def test_an_empty_model_file_is_refused(cli, project):
    (project / "model.onnx").write_bytes(b"")
    result = cli("register", "model.onnx")
    assert result.exit_code == 1
    assert "empty (0 bytes)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert cli("models", "list", "--json").json == []


def test_a_folder_of_only_empty_files_is_refused_but_some_empty_files_are_fine(cli, project):
    (project / "hollow").mkdir()
    (project / "hollow" / "a.bin").write_bytes(b"")
    assert cli("register", "hollow").exit_code == 1
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_bytes(b"")
    (project / "pkg" / "model.pt").write_bytes(os.urandom(32))
    result = cli("register", "pkg", "--json")
    assert result.exit_code == 0 and result.json["name"] == "pkg"


def test_a_read_only_store_says_so_for_every_write(cli, tmpfs, monkeypatch, model_file, tmp_path):  # noqa: F811
    """A real read-only filesystem (tmpfs remounted ro): blobs and rows both refused alike."""
    from tests.cli.test_register import _mount

    monkeypatch.chdir(tmpfs)
    assert cli("init").exit_code == 0
    assert cli("register", model_file, "--name", "m").exit_code == 0
    assert _mount(["-o", "remount,ro", str(tmpfs)])
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(os.urandom(512))
    expected = f"error: the store at {tmpfs / '.mlops'} is read-only; nothing was changed"
    for args in (
        ["register", fresh, "--name", "new"],  # a new blob: refused by the filesystem
        ["register", model_file, "--name", "again"],  # a known blob: refused at the transaction
        ["models", "tag", "m:1", "a=b"],
        ["models", "alias", "m:1", "prod"],
        ["models", "rm", "m:1"],
    ):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.stderr)
        assert result.stderr.startswith(expected), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert [m["name"] for m in cli("models", "list", "--json").json] == ["m"]
    assert cli("audit", "verify").exit_code == 0
