"""`mlops models diff A B` and the environment a version records (`models show`)."""

from __future__ import annotations

import json
from pathlib import Path


def test_a_version_records_its_environment_and_show_summarises_it(cli, model_file):
    version = cli("register", model_file, "--name", "m", "--json").json
    env = version["metadata"]["environment"]
    assert env["digest"].startswith("sha256:") and env["python"] and env["distributions"] > 0
    shown = cli("models", "show", "m:1")
    assert f"Python {env['python']} on {env['platform']}" in shown.stdout
    # the same environment is one blob: a second version names the same digest
    model_file.write_bytes(b"other bytes")
    again = cli("register", model_file, "--name", "m", "--json").json
    assert again["metadata"]["environment"]["digest"] == env["digest"]


def test_diff_shows_files_tags_lineage_and_environment(cli, project, store, model_file):
    cli("register", model_file, "--name", "m", "--tag", "stage=dev", "--tag", "team=a")
    (project / "extra.txt").write_text("x")
    folder = project / "v2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"changed")
    (folder / "extra.txt").write_text("x")
    # B comes from another environment: one distribution more, one at another version
    from mlops_cli.models import environment

    data = environment.load(
        store.objects, cli("models", "show", "m:1", "--json").json["metadata"]["environment"]["digest"]
    )
    first = data["distributions"][0]
    name, version = first.split("==")
    other = {
        **data,
        "distributions": [f"{name}=={version}.post1", *data["distributions"][1:], "zz-extra==2.0"],
    }
    digest = store.objects.put_bytes(json.dumps(other, sort_keys=True).encode()).digest
    from mlops_cli.models.registering import register_model

    env = {"digest": digest, "python": data["python"], "platform": data["platform"], "distributions": 2}
    register_model(
        store, folder, name="m", tags={"stage": "prod", "owner": "ana"}, metadata={"environment": env}
    )

    result = cli("models", "diff", "m:1", "m:2", "--json")
    assert result.exit_code == 0, result.stderr
    diff = result.json
    assert diff["a"] == "m:1" and diff["b"] == "m:2" and diff["identical_files"] is False
    assert diff["files"] == {
        "added": ["extra.txt"],
        "removed": [],
        "changed": [diff["files"]["changed"][0]],
        "unchanged": 0,
    }
    assert diff["files"]["changed"][0]["path"] == "model.bin"
    assert diff["tags"] == {
        "added": {"owner": "ana"},
        "removed": {"team": "a"},
        "changed": {"stage": {"from": "dev", "to": "prod"}},
    }
    assert diff["lineage"]["source_path"]["to"] == str(folder)
    assert diff["environment"]["same"] is False
    assert diff["environment"]["added"] == ["zz-extra==2.0"]
    assert diff["environment"]["changed"] == [{"name": name, "from": version, "to": f"{version}.post1"}]

    human = cli("models", "diff", "m:1", "m:2")
    assert "  + extra.txt" in human.stdout and "  + zz-extra==2.0" in human.stdout
    assert "  ~ stage: dev -> prod" in human.stdout
    same = cli("models", "diff", "m:1", "m:1", "--json").json
    assert same["identical_files"] and same["environment"]["same"] is True and same["lineage"] == {}


def test_diff_of_an_unknown_version_is_one_error_line(cli, model_file):
    cli("register", model_file, "--name", "m")
    result = cli("models", "diff", "m:1", "m:9")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")


def test_the_environment_blob_is_kept_by_gc_and_verified_on_read(cli, store, model_file, project: Path):
    digest = cli("register", model_file, "--name", "m", "--json").json["metadata"]["environment"]["digest"]
    assert cli("gc", "--grace", "0s", "--json").json["count"] == 0
    assert store.objects.has(digest)
    blob = store.objects.path_for(digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"python", b"pythoN"))
    model_file.write_bytes(b"v2")
    other = {"digest": "sha256:" + "0" * 64, "python": "3", "platform": "x", "distributions": 0}
    from mlops_cli.models.registering import register_model

    register_model(store, model_file, name="m", metadata={"environment": other})
    result = cli("models", "diff", "m:1", "m:2")
    assert result.exit_code == 5
    assert "environment snapshot" in result.stderr
