# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
"""score-batch --target kubernetes: the Indexed Job validated against the Kubernetes schemas, the
kubectl command lines checked through the STAND-IN kubectl on PATH (tests/kubectl_standin.py: no
cluster can run here), the pods' own command run on this machine against the real S3-compatible
server (moto on 127.0.0.1) as a kubelet would run it, and the published output compared with the
local engine's. A real-cluster test runs when MLOPS_TEST_KUBECONFIG points at one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlops_cli.batch.engines.kubernetes_job import JobSpec, indexed_job
from tests.cli.test_score_batch import forest, make_table, ok, one_line_error, write  # noqa: F401
from tests.kubectl_standin import install
from tests.s3_helpers import moto_server, s3  # noqa: F401

pytestmark = pytest.mark.integration
kv = pytest.importorskip("kubernetes_validate.utils", reason="needs the [kubernetes] extra")


def newest_two() -> list[str]:
    from packaging.version import Version

    return sorted({kv.major_minor(v) for v in kv.all_versions()}, key=Version)[-2:]


@pytest.mark.parametrize(("parallelism", "secret", "namespace"), [(1, None, None), (4, "s3-creds", "batch")])
def test_indexed_job_passes_strict_schema_validation(parallelism, secret, namespace):
    spec = JobSpec("score-forest-ab12cd", "sb-1-ab12cd", "forest", 3, "sha256:" + "ab" * 32,
                   "registry.example.com/forest:3", parallelism, ("--model-dir", "/model", "--input", "s3://b/in"),
                   namespace=namespace, secret=secret)  # fmt: skip
    job = indexed_job(spec)
    for version in newest_two():
        assert kv.validate(job, version, strict=True) == version
    body = job["spec"]
    assert body["completionMode"] == "Indexed" and body["completions"] == body["parallelism"] == parallelism
    (container,) = body["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--shard", f"$(JOB_COMPLETION_INDEX)/{parallelism}"]
    index_env = next(e for e in container["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert "job-completion-index" in index_env["valueFrom"]["fieldRef"]["fieldPath"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert ("envFrom" in container) == bool(secret)
    job["spec"]["completionMode"] = 7  # proof the validation can fail
    with pytest.raises(kv.ValidationError):
        kv.validate(job, newest_two()[-1], strict=True)


def run_pods_like_a_kubelet(plan: dict, bundle, project) -> None:
    """Run each pod's command of the planned Job on this machine, its index expanded as kubelet
    expands $(JOB_COMPLETION_INDEX), the bundle where the image has /model."""
    (container,) = plan["manifest"]["spec"]["template"]["spec"]["containers"]
    count = plan["manifest"]["spec"]["completions"]
    for index in range(count):
        args = [a.replace("$(JOB_COMPLETION_INDEX)", str(index)).replace("/model", str(bundle), 1)
                if a == "/model" or "$(" in a else a for a in container["args"]]  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "mlops_cli.batch.engines.shard", *args], cwd=project,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["shard"] == f"{index}/{count}"


def test_job_applied_followed_and_published(cli, project, forest, store, s3, tmp_path, monkeypatch):
    from mlops_cli.packaging.bundling import local_bundle

    data = write(make_table(2000), project / "in.parquet")
    url = s3.put(data, "in/data.parquet")
    args = ["score-batch", "forest", "-i", url, "-o", s3.url("out"), "--target", "kubernetes",
            "--parallelism", 3, "--batch-size", 300, "--passthrough", "id", "--image", "scorer:1",
            "--namespace", "batch", "--json"]  # fmt: skip
    kubectl = install(tmp_path / "kubectl", monkeypatch)
    plan = ok(cli(*args, "--dry-run"))
    assert plan["dry_run"] is True and kubectl.calls == []  # a dry run asks the cluster nothing
    assert yaml.safe_load(plan["yaml"]) == plan["manifest"]
    assert plan["outputs"] == [s3.url(f"out/scores-{i}-of-3.parquet") for i in range(3)]

    run_pods_like_a_kubelet(plan, local_bundle(store, "forest")[1], project)
    kubectl.reply("wait", stdout="job.batch/x condition met\n")
    result = ok(cli(*args))
    assert [call["argv"][:3] for call in kubectl.calls] == [
        ["--namespace", "batch", "apply"], ["--namespace", "batch", "wait"]]  # fmt: skip
    applied = yaml.safe_load(kubectl.calls[0]["stdin"])
    assert applied["kind"] == "Job" and applied["metadata"]["name"] == result["job"]
    assert kubectl.calls[1]["argv"][3:5] == ["--for=condition=complete", f"job/{result['job']}"]
    marker = json.loads(s3.fs.cat_file(f"{s3.name}/out/_SUCCESS"))
    assert [shard["path"] for shard in marker["shards"]] == plan["outputs"]
    assert result["record"]["status"] == "completed"

    reference = project / "local.parquet"
    ok(cli("score-batch", "forest", "-i", data, "-o", reference, "--passthrough", "id", "--batch-size", 300))
    shards = [
        pq.read_table(s3.get(f"out/scores-{i}-of-3.parquet", tmp_path / f"{i}.parquet")) for i in range(3)
    ]
    assert pa.concat_tables(shards).sort_by("id").equals(pq.read_table(reference))


def test_failed_shard_reports_its_pod_logs_and_publishes_nothing(
    cli, project, forest, s3, tmp_path, monkeypatch
):
    data = write(make_table(50), project / "in.parquet")
    url = s3.put(data, "in.parquet")
    s3.fs.pipe_file(f"{s3.name}/out/_SUCCESS", b"{}")  # from an earlier run
    kubectl = install(tmp_path / "kubectl", monkeypatch)
    kubectl.reply("wait", stderr="error: timed out waiting for the condition on jobs/x\n", rc=1)
    failed = {"type": "Failed", "status": "True", "reason": "FailedIndexes", "message": "failed indexes: 1"}
    kubectl.reply("get", "job", stdout={"status": {"conditions": [failed]}})
    terminated = {"name": "score", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
    pod = {
        "metadata": {
            "name": "score-forest-1-x",
            "annotations": {"batch.kubernetes.io/job-completion-index": "1"},
        },
        "status": {"phase": "Failed", "containerStatuses": [terminated]},
    }
    kubectl.reply("get", "pods", stdout={"items": [pod]})
    kubectl.reply("logs", stdout="error: input s3://b/in.parquet: access denied: forbidden\n")
    result = cli("score-batch", "forest", "-i", url, "-o", s3.url("out/"), "--target", "kubernetes",
                 "--parallelism", 2, "--image", "scorer:1")  # fmt: skip
    assert result.exit_code == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: the Job score-forest-") and "FailedIndexes" in lines[-1]
    assert sum(line.startswith("error:") for line in lines) == 1
    assert any("shard 1/2" in line and "exit code 1" in line for line in lines)
    assert any("access denied" in line for line in lines)  # the pod's own log line
    assert "out/_SUCCESS" not in s3.keys()  # noqa: SIM118 - the old marker is gone and no new one was written
    assert kubectl.argvs[-1][:4] == ["logs", "score-forest-1-x", "--container", "score"]


def test_bad_cluster_input(cli, project, forest, tmp_path, monkeypatch):
    data = write(make_table(10), project / "in.parquet")
    base = ["score-batch", "forest", "--target", "kubernetes", "--image", "x:1"]
    one_line_error(cli(*base, "-i", data, "-o", "s3://b/out/"), 2, "object storage")
    one_line_error(cli(*base, "-i", "s3://b/in.parquet", "-o", "s3://b/out/", "--parallelism", 0), 2,
                   "--parallelism")  # fmt: skip
    one_line_error(cli(*base, "-i", "s3://b/in.parquet", "-o", "s3://b/o/", "--shard", "0/2"), 2, "--shard")
    one_line_error(cli("score-batch", "forest", "-i", data, "-o", "o.parquet", "--parallelism", 2), 2,
                   "--target kubernetes")  # fmt: skip


@pytest.mark.skipif(not os.environ.get("MLOPS_TEST_KUBECONFIG"), reason="needs a real cluster")
def test_real_cluster(cli, project, forest):
    """With MLOPS_TEST_KUBECONFIG, MLOPS_TEST_K8S_IMAGE (an image carrying mlops-cli[batch,s3]
    and the model at /model), MLOPS_TEST_K8S_INPUT (a Parquet URL with the model's columns and
    id) and MLOPS_TEST_K8S_OUTPUT (a prefix), credentials in the Secret MLOPS_TEST_K8S_SECRET."""
    env = os.environ
    job = ok(cli("score-batch", "forest", "-i", env["MLOPS_TEST_K8S_INPUT"],
                 "-o", env["MLOPS_TEST_K8S_OUTPUT"],
                 "--target", "kubernetes", "--parallelism", 2, "--image", env["MLOPS_TEST_K8S_IMAGE"],
                 "--secret", env.get("MLOPS_TEST_K8S_SECRET", "mlops-s3"), "--kubeconfig",
                 env["MLOPS_TEST_KUBECONFIG"], "--passthrough", "id", "--json"))  # fmt: skip
    assert job["record"]["status"] == "completed" and len(job["record"]["details"]["output"]["shards"]) == 2


@pytest.mark.parametrize("shard", ["3/3", "-1/2", "1/0", "x"])
def test_pod_entry_refuses_a_shard_out_of_range(project, shard):
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli.batch.engines.shard", "--model-dir", str(project),
         "-i", "s3://b/in.parquet", "-o", "s3://b/out/", f"--shard={shard}"],
        capture_output=True, text=True, timeout=60, cwd=project,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: --shard"), done.stderr
