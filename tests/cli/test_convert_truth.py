"""`convert` records the truth: the framework the pickle really is, and the source's git commit."""
# ruff: noqa: N806 - X is the usual name for a feature matrix

from __future__ import annotations

import subprocess

import joblib
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier


@pytest.fixture
def forest(project):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    joblib.dump(model, project / "rf.joblib")
    X.head(60).to_csv(project / "sample.csv", index=False)
    return project / "rf.joblib"


def _git(project, *args):
    return subprocess.run(
        ["git", "-C", str(project), "-c", "user.email=a@b.c", "-c", "user.name=A", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_a_forest_registered_as_lightgbm_converts_as_sklearn_and_says_so(cli, project, forest):
    assert cli("register", forest, "--name", "rf", "--framework", "lightgbm").exit_code == 0
    result = cli("convert", "rf", "--sample", project / "sample.csv", "--name", "rf-onnx", "--json")
    assert result.exit_code == 0, result.stderr
    assert "registered as lightgbm but its pickle imports sklearn" in result.stderr
    assert result.json["framework"] == "sklearn"
    shown = cli("models", "show", "rf-onnx", "--json").json
    assert shown["tags"]["source_framework"] == "sklearn"
    assert shown["metadata"]["derived_from"]["framework"] == "sklearn"
    assert shown["metadata"]["derived_from"]["registered_framework"] == "lightgbm"


def test_a_converted_version_inherits_its_sources_git_commit(cli, project, forest):
    """The image labels org.opencontainers.image.revision and mlops.model.git.commit read this."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True)
    _git(project, "add", "rf.joblib")
    _git(project, "commit", "-qm", "train")
    trained = _git(project, "rev-parse", "HEAD")
    assert cli("register", forest, "--name", "rf").exit_code == 0
    (project / "notes.txt").write_text("later work")
    _git(project, "add", "notes.txt")
    _git(project, "commit", "-qm", "later")
    converting = _git(project, "rev-parse", "HEAD")
    result = cli("convert", "rf", "--sample", project / "sample.csv", "--name", "rf-onnx")
    assert result.exit_code == 0, result.stderr
    shown = cli("models", "show", "rf-onnx", "--json").json
    assert shown["git"]["commit"] == trained and shown["git"]["branch"] == "main"
    assert shown["metadata"]["conversion"]["git"]["commit"] == converting

    from mlops_cli.models.manage import show_version
    from mlops_cli.packaging.image import labels_for
    from mlops_cli.store import open_store

    with open_store() as store:
        labels = labels_for(show_version(store, "rf-onnx"))
    assert labels["org.opencontainers.image.revision"] == trained
    assert labels["mlops.model.git.commit"] == trained
