"""One shard pod of `score-batch --target kubernetes`, run by the REAL Docker engine the way a
kubelet would run it (no cluster can run here), against the real S3-compatible server (moto on
127.0.0.1, host networking): the Job's container spec as written, its user and group, read-only
root filesystem, dropped capabilities, memory limit, an fsGroup-owned folder for the /tmp
emptyDir, the Secret's keys as environment (`envFrom`) and $(JOB_COMPLETION_INDEX) expanded from
the env the manifest sets. Then `score-batch` follows the Job (stand-in kubectl) and publishes
`_SUCCESS`; the shards together equal the local engine's output.

The image is the one users build: `mlops package forest --with-batch` on the offline Debian
base (wheels downloaded on the host, built with the network off), which `score-batch --target
kubernetes` then picks by itself (no --image). Skipped without a Docker engine and the base image
(failing under MLOPS_REQUIRE_DOCKER=1, as in CI).
"""

# ruff: noqa: F811 - pytest fixtures imported from the helpers are parameters of the tests
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.test_score_batch import forest, make_table, ok, write  # noqa: F401
from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.kubectl_standin import install
from tests.s3_helpers import moto_server, s3  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_like_a_kubelet(engine, job: dict, index: int, secret: dict[str, str], volume_root: Path):
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = {**pod["securityContext"], **container["securityContext"]}
    binds = {}
    for volume in pod["volumes"]:
        folder = volume_root / f"{volume['name']}-{index}"
        folder.mkdir(mode=0o770)
        os.chown(folder, 0, pod["securityContext"]["fsGroup"])
        folder.chmod(0o2770)
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
        binds[str(folder)] = {"bind": mount["mountPath"], "mode": "rw"}
    env = dict(secret) if container.get("envFrom") else {}
    for item in container["env"]:
        if "valueFrom" in item:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert path == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            env[item["name"]] = str(index)  # what the Job controller annotates pod I with
        else:
            env[item["name"]] = item["value"]
    index_text = env["JOB_COMPLETION_INDEX"]
    args = [arg.replace("$(JOB_COMPLETION_INDEX)", index_text) for arg in container["args"]]
    limits = container["resources"]["limits"]
    return engine.containers.run(
        container["image"],
        entrypoint=container["command"],
        command=args,
        environment=env,
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        group_add=[str(pod["securityContext"]["fsGroup"])],
        read_only=security["readOnlyRootFilesystem"],
        cap_drop=security["capabilities"]["drop"],
        security_opt=["no-new-privileges"],
        mem_limit=int(limits["memory"][:-2]) * 2**30,
        volumes=binds,
        network_mode="host",
        detach=True,
    )


def test_shard_pods_run_in_docker_against_s3(cli, project, forest, s3, tmp_path, monkeypatch):
    engine = docker_engine()
    data = write(make_table(3000), project / "in.parquet")
    url = s3.put(data, "in/data.parquet")
    tag = f"mlops-batch-engines2-shard:{os.getpid()}"
    args = ["score-batch", "forest", "-i", url, "-o", s3.url("out/"), "--target", "kubernetes",
            "--parallelism", 2, "--batch-size", 500, "--passthrough", "id",
            "--secret", "s3-creds", "--json"]  # fmt: skip
    refused = cli(*args, "--dry-run")  # no image that can run shards yet
    assert refused.exit_code == 2 and "--with-batch" in refused.stderr, refused.stderr
    built = ok(cli("package", "forest", "--with-batch", "--base-image", BASE_IMAGE, "--image", tag, "--json"))
    assert built["with_batch"] and any(p.startswith("s3fs==") for p in built["packages"])
    names = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    secret = {name: os.environ[name] for name in names}  # the Secret --secret names
    try:
        plan = ok(cli(*args, "--dry-run"))
        assert plan["manifest"]["spec"]["template"]["spec"]["containers"][0]["image"] == tag
        for index in range(2):
            pod = run_like_a_kubelet(engine, plan["manifest"], index, secret, tmp_path)
            try:
                status = pod.wait(timeout=300)
                logs = pod.logs().decode()
            finally:
                pod.remove(force=True)
            assert status["StatusCode"] == 0, logs
            assert json.loads(logs.strip().splitlines()[-1])["shard"] == f"{index}/2"
    finally:
        engine.images.remove(tag, force=True)
    kubectl = install(tmp_path / "kubectl", monkeypatch)
    kubectl.reply("wait", stdout="condition met\n")
    result = ok(cli(*args))
    assert result["record"]["status"] == "completed"
    assert "out/_SUCCESS" in s3.keys()  # noqa: SIM118 - the bucket's keys
    reference = project / "local.parquet"
    ok(cli("score-batch", "forest", "-i", data, "-o", reference, "--passthrough", "id", "--batch-size", 500))
    keys = [f"out/scores-{i}-of-2.parquet" for i in range(2)]
    shards = [pq.read_table(s3.get(key, tmp_path / f"{i}.parquet")) for i, key in enumerate(keys)]
    assert pa.concat_tables(shards).sort_by("id").equals(pq.read_table(reference))
