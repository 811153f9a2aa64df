import os


def _register(cli, path, name="churn", *extra):
    result = cli("register", path, "--name", name, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json


def test_list_shows_latest_aliases_and_counts(cli, model_file):
    _register(cli, model_file)
    _register(cli, model_file, "churn", "--alias", "champion")
    _register(cli, model_file, "other")
    listed = cli("models", "list", "--json").json
    assert [m["name"] for m in listed] == ["churn", "other"]
    churn = listed[0]
    assert churn["latest_version"] == 2 and churn["versions"] == 2
    assert churn["aliases"] == {"champion": 2}
    human = cli("models", "list").stdout
    assert "churn" in human and "champion→2" in human


def test_references_resolve(cli, model_file):
    _register(cli, model_file)
    _register(cli, model_file, "churn", "--alias", "champion")
    _register(cli, model_file)
    assert cli("models", "show", "churn", "--json").json["version"] == 3
    assert cli("models", "show", "churn:latest", "--json").json["version"] == 3
    assert cli("models", "show", "churn:1", "--json").json["version"] == 1
    assert cli("models", "show", "churn@champion", "--json").json["version"] == 2


def test_unknown_references_suggest_near_names(cli, model_file):
    _register(cli, model_file)
    result = cli("models", "show", "chrun")
    assert result.exit_code == 1
    assert "did you mean churn" in result.stderr
    missing = cli("models", "show", "churn:9")
    assert missing.exit_code == 1 and "versions: 1" in missing.stderr
    alias = cli("models", "show", "churn@prod")
    assert alias.exit_code == 1 and "no alias 'prod'" in alias.stderr


def test_tag_untag(cli, model_file):
    _register(cli, model_file, "churn", "--tag", "a=1")
    tagged = cli("models", "tag", "churn:1", "b=2", "a=3", "--json").json
    assert tagged["tags"] == {"a": "3", "b": "2"}
    assert cli("models", "untag", "churn:1", "a", "--json").json["tags"] == {"b": "2"}
    missing = cli("models", "untag", "churn:1", "zzz")
    assert missing.exit_code == 1 and "no tag 'zzz'" in missing.stderr
    assert cli("models", "tag", "churn:1", "oops").exit_code == 2


def test_alias_moves_and_unalias(cli, model_file):
    _register(cli, model_file)
    _register(cli, model_file)
    first = cli("models", "alias", "churn:1", "champion", "--json").json
    assert first == {"name": "churn", "alias": "champion", "version": 1, "previous_version": None}
    moved = cli("models", "alias", "churn:2", "champion", "--json").json
    assert moved["version"] == 2 and moved["previous_version"] == 1
    assert cli("models", "show", "churn:1", "--json").json["aliases"] == []
    assert cli("models", "unalias", "churn", "champion", "--json").json["version"] == 2
    assert cli("models", "show", "churn@champion").exit_code == 1


def test_download_verifies_and_materialises_a_folder(cli, project):
    folder = project / "saved"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(os.urandom(1000))
    (folder / "sub" / "b.bin").write_bytes(os.urandom(2000))
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    _register(cli, folder, "saved")
    out = project / "out"
    result = cli("models", "download", "saved:1", "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["files"] == 3
    for rel in ("a.bin", "sub/b.bin", "run.sh"):
        assert (out / rel).read_bytes() == (folder / rel).read_bytes()
    assert os.access(out / "run.sh", os.X_OK)
    again = cli("models", "download", "saved:1", "--output", out)
    assert again.exit_code == 2 and "not empty" in again.stderr
    assert cli("models", "download", "saved:1", "--output", out, "--force").exit_code == 0


def test_download_of_a_corrupt_blob_fails_and_writes_nothing(cli, project, model_file, store):
    record = _register(cli, model_file)
    blob = store.objects.path_for(record["files"][0]["digest"])
    blob.chmod(0o644)
    blob.write_bytes(b"\0" * 2048)
    out = project / "out"
    result = cli("models", "download", "churn:1", "--output", out)
    assert result.exit_code == 5 and "corrupt" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_rm_keeps_shared_blobs_and_frees_unshared_ones(cli, project, model_file, store):
    shared = _register(cli, model_file)
    _register(cli, model_file)  # same bytes: same blob
    other = project / "other.bin"
    other.write_bytes(b"unique")
    unique = _register(cli, other, "churn")
    removed = cli("models", "rm", "churn:1", "--json").json
    assert removed == {"ref": "churn:1", "digest": shared["digest"], "blobs_removed": 0}
    assert store.objects.has(shared["files"][0]["digest"])
    assert cli("models", "rm", "churn:3", "--json").json["blobs_removed"] == 1
    assert not store.objects.has(unique["files"][0]["digest"])
    assert cli("models", "list", "--json").json[0]["versions"] == 1
    # numbers are never reused
    assert _register(cli, model_file)["version"] == 4
    assert cli("audit", "verify").exit_code == 0


def test_rm_needs_an_explicit_version(cli, model_file):
    _register(cli, model_file)
    result = cli("models", "rm", "churn")
    assert result.exit_code == 2 and "without a version" in result.stderr
    assert cli("models", "show", "churn:1").exit_code == 0


def test_versions_lists_every_version(cli, model_file):
    _register(cli, model_file)
    _register(cli, model_file)
    assert [v["version"] for v in cli("models", "versions", "churn", "--json").json] == [1, 2]


def test_a_model_whose_last_version_was_removed_is_not_suggested_as_itself(cli, model_file):
    assert cli("register", model_file, "--name", "scoreme").exit_code == 0
    assert cli("register", model_file, "--name", "scoremf").exit_code == 0
    assert cli("models", "rm", "scoreme:1").exit_code == 0
    result = cli("models", "show", "scoreme")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "did you mean scoreme?" not in line and "did you mean scoreme," not in line
    assert "model 'scoreme' has no versions left: every version up to scoreme:1 was removed" in line
    assert "mlops audit log --model scoreme" in line and "did you mean scoremf?" in line
    assert cli("models", "rm", "scoremf:1").exit_code == 0
    alone = cli("models", "show", "scoreme").stderr
    assert "scoremf" not in alone and "see `mlops models list`" in alone
