"""`mlops audit lineage` on a store built by the real commands: a git-tracked training run,
register with its dataset, convert to ONNX, score-batch with the converted version.

`mlops deploy` and `mlops monitor` land on other branches: their records (a deployments row,
a deploy.create event, a drift.detected event) are written here through the store's own API,
the way those commands write them.
"""

from __future__ import annotations

import subprocess

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import ModelRef, Revision
from mlops_cli.store import deployments, jobs
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event


@pytest.fixture
def built(cli, project, store):
    features, y = load_iris(return_X_y=True, as_frame=True)
    features.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in features.columns]
    features.assign(target=y).to_csv(project / "train.csv", index=False)
    joblib.dump(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(features, y),
        project / "m.joblib",
    )
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "train.csv"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "data"], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()
    source = cli(
        "register", project / "m.joblib", "--name", "iris", "--dataset", project / "train.csv", "--json"
    )
    assert source.exit_code == 0, source.stderr
    converted = cli("convert", "iris:1", "--sample", project / "train.csv", "--json")
    assert converted.exit_code == 0, converted.stderr
    onnx_ref = converted.json["ref"]
    features.head(50).to_csv(project / "batch.csv", index=False)
    scored = cli("score-batch", onnx_ref, "-i", project / "batch.csv", "-o", project / "scores.csv", "--json")
    assert scored.exit_code == 0, scored.stderr
    onnx = cli("models", "show", onnx_ref, "--json").json
    prov = provenance()
    jobs.add_artifact(
        store.conn, ModelRef.parse(onnx_ref), "image", "mlops/iris:2", "sha256:" + "a" * 64, {}, prov
    )
    name, number = onnx_ref.split(":")
    revision = Revision(
        deployment="iris-prod", revision=1, kind="create", model=name, version=int(number),
        digest=onnx["digest"], requested_ref=onnx_ref, outcome="live", detail=None, spec={"port": 8080},
        state={}, rollback_of=None, created_at="2026-12-05T00:00:00Z", actor="a", message=None,
    )  # fmt: skip
    deployments.record_revision(
        store.conn, "local", revision, "deploy.create", prov
    )  # as `mlops deploy` does
    with transaction(store.conn) as conn:
        append_event(conn, "drift.detected", onnx_ref, prov, {"model": onnx_ref, "share_drifted": 0.5})
    return {"commit": commit, "source": source.json, "onnx_ref": onnx_ref, "job": scored.json}


def test_upstream_from_dataset_and_commit_through_conversion_to_what_was_built(cli, built):
    ref = built["onnx_ref"]
    graph = cli("audit", "lineage", ref, "--json").json
    assert graph["root"] == f"version:{ref}" and graph["direction"] == "upstream"
    edges = {(e["source"], e["target"], e["relation"]) for e in graph["edges"]}
    dataset = built["source"]["datasets"][0]["digest"]
    assert (f"dataset:{dataset}", "version:iris:1", "training") in edges
    assert (f"commit:{built['commit']}", "version:iris:1", "source") in edges
    assert ("version:iris:1", f"version:{ref}", "converted") in edges
    assert (f"version:{ref}", f"image:mlops/iris:2:sha256:{'a' * 64}", "built") in edges
    assert (f"version:{ref}", "deployment:iris-prod", "deployed") in edges
    kinds = {n["kind"] for n in graph["nodes"]}
    assert {"dataset", "commit", "version", "image", "deployment", "job", "drift"} <= kinds
    job_edges = [e for e in graph["edges"] if e["relation"] == "score-batch"]
    assert job_edges and job_edges[0]["source"] == f"version:{ref}"
    human = cli("audit", "lineage", ref)
    assert "came from" in human.stdout and "deployment iris-prod" in human.stdout


def test_downstream_of_the_source_reaches_conversion_deployment_and_jobs(cli, built):
    graph = cli("audit", "lineage", "iris:1", "--downstream", "--json").json
    ids = {n["id"] for n in graph["nodes"]}
    assert f"version:{built['onnx_ref']}" in ids and "deployment:iris-prod" in ids
    assert any(i.startswith("job:") for i in ids)
    assert not any(i.startswith("dataset:") for i in ids)  # upstream is not downstream


def test_dot_output_is_graphviz(cli, built):
    result = cli("audit", "lineage", built["onnx_ref"], "--dot")
    assert result.exit_code == 0
    assert result.stdout.startswith('digraph "lineage version:') and result.stdout.rstrip().endswith("}")
    assert '"version:iris:1" -> "version:' in result.stdout
    if subprocess.run(["which", "dot"], capture_output=True).returncode == 0:
        rendered = subprocess.run(["dot", "-Tsvg"], input=result.stdout, capture_output=True, text=True)
        assert rendered.returncode == 0 and "<svg" in rendered.stdout


def test_lineage_errors(cli, built):
    assert cli("audit", "lineage", "nope:1").exit_code == 1
    assert cli("audit", "lineage", "iris:1", "--dot", "--json").exit_code == 2
