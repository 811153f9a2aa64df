"""The kubernetes target against a REAL cluster, end to end. No cluster can run on the machines
this project is built on, so this runs only when MLOPS_TEST_KUBECONFIG points to one (skipped
otherwise; it is not a Docker test, so MLOPS_REQUIRE_DOCKER does not turn the skip into a failure).

    MLOPS_TEST_KUBECONFIG=~/.kube/config            # required: the cluster to use
    MLOPS_TEST_K8S_IMAGE=registry/mlops-fraud:1      # required: an image `mlops package` built,
                                                     # pullable by the cluster (or `kind load`ed)
    MLOPS_TEST_K8S_CONTEXT=kind-mlops                # optional: a context of that kubeconfig

It creates a namespace of its own, deploys revision 1 (2 replicas), checks the Deployment is
ready, the server answers /v2/health/ready through `kubectl port-forward`, and its log can be
read; switches to a revision whose image cannot be pulled and checks the switch is refused, undone,
and revision 1 still serves; then deletes everything, namespace included.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest

from mlops_cli.targets.base import DeploySpec
from mlops_cli.targets.kubectl import Kubectl
from mlops_cli.targets.kubernetes import KubernetesTarget, RolloutFailedError

pytestmark = pytest.mark.integration

KUBECONFIG = os.environ.get("MLOPS_TEST_KUBECONFIG")
IMAGE = os.environ.get("MLOPS_TEST_K8S_IMAGE")
CONTEXT = os.environ.get("MLOPS_TEST_K8S_CONTEXT") or None

if not KUBECONFIG:
    pytest.skip("no Kubernetes cluster: set MLOPS_TEST_KUBECONFIG to run", allow_module_level=True)
if not IMAGE:
    pytest.skip("MLOPS_TEST_KUBECONFIG is set but MLOPS_TEST_K8S_IMAGE is not", allow_module_level=True)


@pytest.fixture
def namespace():
    name = f"mlops-test-{uuid.uuid4().hex[:8]}"
    cluster = Kubectl(context=CONTEXT, kubeconfig=KUBECONFIG, timeout=120)
    cluster.run("create", "namespace", name)
    yield name
    cluster.run("delete", "namespace", name, "--wait=false")


def spec(namespace: str, revision: int, image: str) -> DeploySpec:
    return DeploySpec(
        name="mlops-e2e",
        revision=revision,
        model="e2e",
        version=revision,
        digest="sha256:" + f"{revision:02d}" * 32,
        replicas=2,
        cpu=0.2,
        memory="384Mi",
        wait_timeout=180 if revision == 1 else 45,
        options={"image": image, "namespace": namespace, "context": CONTEXT, "kubeconfig": KUBECONFIG},
    )


def ready_through_port_forward(namespace: str) -> int:
    """GET /v2/health/ready through `kubectl port-forward service/mlops-e2e`; the status code."""
    import httpx

    argv = Kubectl(context=CONTEXT, kubeconfig=KUBECONFIG, namespace=namespace).argv(
        "port-forward", "service/mlops-e2e", ":8080"
    )
    forward = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = forward.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=10).status_code
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_deploy_refuse_a_broken_revision_and_delete_on_a_real_cluster(namespace):
    target = KubernetesTarget()
    first = spec(namespace, 1, IMAGE)
    state = target.switch(first, None)
    assert state.ready, state.detail
    assert state.info["desired"] == state.info["ready"] == 2
    assert ready_through_port_forward(namespace) == 200
    assert any(line for line in target.logs(first, tail=20))

    broken = spec(namespace, 2, "registry.invalid/mlops/does-not-exist:1")
    with pytest.raises(RolloutFailedError) as caught:
        target.switch(broken, first)
    assert "rolled back to revision 1" in caught.value.message
    assert any("ImagePull" in line or "ErrImage" in line for line in caught.value.log_tail)
    state = target.status(first)
    assert state.ready, state.detail
    assert ready_through_port_forward(namespace) == 200

    target.delete(first)
    assert not target.status(first).running
