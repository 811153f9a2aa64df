"""KubernetesTarget against a STAND-IN kubectl (tests/kubectl_standin.py) first on PATH.

No Kubernetes cluster can run on this machine, so these tests check the exact kubectl command
lines and the YAML sent on stdin, and how the target reacts to kubectl's answers (canned JSON
shaped like the API server's): a good rollout, a failed one (failing pods' events and logs read,
`rollout undo`, the previous revision's objects restored), a first revision that fails (its
objects deleted), an unknown context, an unreachable cluster, a refused apply, status, logs and
delete. tests/integration/test_kubernetes_cluster.py runs the same against a real cluster.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from mlops_cli.errors import ExternalToolError, UsageError
from mlops_cli.targets.base import DeploySpec
from mlops_cli.targets.kubectl import ClusterUnreachableError, ContextNotFoundError, KubectlError
from mlops_cli.targets.kubernetes import KubernetesTarget, RolloutFailedError
from tests.kubectl_standin import install

DIGEST = "sha256:" + "ab" * 32
GLOBAL = ["--kubeconfig", "KUBECONFIG", "--context", "staging", "--namespace", "ml"]
SELECT = "mlops/deployment=fraud"


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")  # only has to exist: the stand-in never reads it
    return str(path)


@pytest.fixture
def standin(tmp_path, monkeypatch):
    return install(tmp_path / "bin", monkeypatch)


def make_spec(kubeconfig: str, revision: int = 2, version: int = 5, **changes) -> DeploySpec:
    options = {
        "image": f"registry.example.com/fraud:{version}",
        "namespace": "ml",
        "context": "staging",
        "kubeconfig": kubeconfig,
        **changes.pop("options", {}),
    }
    return DeploySpec(
        name="fraud",
        revision=revision,
        model="fraud",
        version=version,
        digest=DIGEST,
        wait_timeout=30,
        options=options,
        **changes,
    )


def argvs(standin, kubeconfig: str) -> list[list[str]]:
    """The recorded argvs with the kubeconfig path shortened for comparison."""
    return [[("KUBECONFIG" if arg == kubeconfig else arg) for arg in argv] for argv in standin.argvs]


def deployment_json(
    revision: int, version: int, ready: int, desired: int = 2, updated: int | None = None
) -> dict:
    """A `kubectl get deployment -o json` answer, reduced to the fields the target reads."""
    updated = desired if updated is None else updated
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fraud", "namespace": "ml", "generation": 3},
        "spec": {
            "replicas": desired,
            "template": {
                "metadata": {
                    "labels": {"mlops/revision": str(revision), "mlops/version": str(version)},
                    "annotations": {"mlops/model": "fraud", "mlops/digest": DIGEST},
                },
                "spec": {
                    "containers": [{"name": "server", "image": f"registry.example.com/fraud:{version}"}]
                },
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": desired,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        },
    }


CRASHING_POD = {
    "items": [
        {
            "metadata": {"name": "fraud-7d9c-abcde"},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": "server",
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}},
                    }
                ],
            },
        }
    ]
}
EVENTS = {
    "items": [
        {
            "type": "Warning",
            "reason": "BackOff",
            "message": "Back-off restarting failed container server",
            "count": 6,
            "lastTimestamp": "2026-12-05T07:40:02Z",
        },
        {
            "type": "Normal",
            "reason": "Pulled",
            "message": "Container image already present on machine",
            "lastTimestamp": "2026-12-05T07:39:00Z",
        },
    ]
}
FORBIDDEN = 'Error from server (Forbidden): deployments.apps "fraud" is forbidden\n'
STUCK = 'ReplicaSet "fraud-7d9c" has timed out progressing.'
REFUSED = "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n"
LOG = "INFO loading model\nValueError: fraud.onnx is not a valid ONNX model\n"


def documents(stdin: str) -> list[dict]:
    return list(yaml.safe_load_all(stdin))


def test_plan_changes_nothing(standin, kubeconfig):
    plan = KubernetesTarget().plan(make_spec(kubeconfig), make_spec(kubeconfig, revision=1, version=4))
    assert standin.calls == []  # not one kubectl call
    assert plan["objects"] == ["Service/fraud", "Deployment/fraud"]
    assert plan["commands"][0] == [
        "kubectl",
        "--kubeconfig",
        kubeconfig,
        "--context",
        "staging",
        "--namespace",
        "ml",
        "apply",
        "-f",
        "-",
    ]
    assert plan["commands"][1][-3:] == ["status", "deployment/fraud", "--timeout=30s"]
    assert [argv[7:9] for argv in plan["on_failure"]] == [
        ["rollout", "undo"],
        ["apply", "-f"],
        ["delete", "horizontalpodautoscaler,poddisruptionbudget"],
        ["rollout", "status"],
    ]


def test_switch_applies_waits_prunes_and_reports_the_cluster_state(standin, kubeconfig, monkeypatch):
    monkeypatch.setenv("FRAUD_KEY", "the-real-key")
    standin.reply("get", "deployment", stdout=deployment_json(revision=2, version=5, ready=2))
    spec = make_spec(kubeconfig, replicas=2, api_key_env="FRAUD_KEY")
    state = KubernetesTarget().switch(spec, make_spec(kubeconfig, revision=1, version=4))
    assert argvs(standin, kubeconfig) == [
        [*GLOBAL, "apply", "-f", "-"],
        [*GLOBAL, "rollout", "status", "deployment/fraud", "--timeout=30s"],
        [
            *GLOBAL,
            "delete",
            "horizontalpodautoscaler,poddisruptionbudget,secret",
            "--selector",
            "mlops/deployment=fraud,mlops/revision!=2",
            "--ignore-not-found",
        ],
        [*GLOBAL, "get", "deployment", "fraud", "-o", "json"],
    ]
    applied = documents(standin.calls[0]["stdin"])
    assert [doc["kind"] for doc in applied] == ["Secret", "Service", "Deployment", "PodDisruptionBudget"]
    assert applied[0]["stringData"] == {"api-key": "the-real-key"}  # on stdin, never in argv
    assert all("the-real-key" not in arg for argv in standin.argvs for arg in argv)
    assert "the-real-key" not in yaml.safe_dump(applied[2])
    assert applied[2]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/fraud:5"
    assert state.ready and state.running
    assert state.detail == "2/2 pods ready, revision 2 (fraud v5)"
    assert state.endpoint == "http://fraud.ml.svc.cluster.local:8080"
    assert state.info["digest"] == DIGEST and state.info["revision"] == 2


def test_failed_rollout_reads_the_failing_pods_then_undoes(standin, kubeconfig):
    standin.reply(
        "rollout",
        "status",
        rc=1,
        stderr='error: deployment "fraud" exceeded its progress deadline\n',
        times=1,  # the first wait fails; the wait after the undo succeeds
    )
    stuck = deployment_json(revision=2, version=5, ready=2, updated=1)
    stuck["status"]["conditions"].append(
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": STUCK,
        }
    )
    standin.reply("get", "deployment", stdout=stuck)
    standin.reply("get", "pods", stdout=CRASHING_POD)
    standin.reply("get", "events", stdout=EVENTS)
    standin.reply("logs", stdout=LOG)
    previous = make_spec(kubeconfig, revision=1, version=4, replicas=2)
    spec = make_spec(kubeconfig, revision=2, version=5, replicas=3, options={"autoscale": "3:6:70"})
    with pytest.raises(RolloutFailedError) as caught:
        KubernetesTarget().switch(spec, previous)
    error = caught.value
    assert error.exit_code == 5
    assert error.message == (
        'revision 2 of fraud did not become ready: deployment "fraud" exceeded its progress deadline; '
        "rolled back to revision 1, which keeps serving"
    )
    assert error.log_tail == [
        "deployment Progressing: ProgressDeadlineExceeded: " + STUCK,
        "pod fraud-7d9c-abcde: Running, server waiting: CrashLoopBackOff (back-off 1m20s), restarted 4 times",
        "  Normal Pulled: Container image already present on machine",
        "  Warning BackOff: Back-off restarting failed container server (x6)",
        "  | INFO loading model",
        "  | ValueError: fraud.onnx is not a valid ONNX model",
    ]
    assert argvs(standin, kubeconfig) == [
        # with an autoscaler: how many pods run now, so the switch keeps that count
        [*GLOBAL, "get", "deployment", "fraud", "-o", "json"],
        [*GLOBAL, "apply", "-f", "-"],
        [*GLOBAL, "rollout", "status", "deployment/fraud", "--timeout=30s"],
        # what failed, read before the undo removes the new pods
        [*GLOBAL, "get", "deployment", "fraud", "-o", "json"],
        [*GLOBAL, "get", "pods", "--selector", "mlops/deployment=fraud,mlops/revision=2", "-o", "json"],
        [*GLOBAL, "get", "events", "--field-selector", "involvedObject.name=fraud-7d9c-abcde", "-o", "json"],
        [*GLOBAL, "logs", "fraud-7d9c-abcde", "--container", "server", "--tail", "20"],
        # the previous revision back: pod template, its Service and PDB, no HPA of the new one
        [*GLOBAL, "rollout", "undo", "deployment/fraud"],
        [*GLOBAL, "apply", "-f", "-"],
        [
            *GLOBAL,
            "delete",
            "horizontalpodautoscaler,poddisruptionbudget",
            "--selector",
            "mlops/deployment=fraud,mlops/revision=2",
            "--ignore-not-found",
        ],
        [*GLOBAL, "rollout", "status", "deployment/fraud", "--timeout=30s"],
    ]
    applied = {doc["kind"]: doc for doc in documents(standin.calls[1]["stdin"])}
    assert applied["Deployment"]["spec"]["replicas"] == 3  # 2 run now, raised to MIN
    restored = documents(standin.calls[8]["stdin"])
    assert [doc["kind"] for doc in restored] == ["Service", "PodDisruptionBudget"]
    assert all(doc["metadata"]["labels"]["mlops/revision"] == "1" for doc in restored)


def test_a_failed_first_revision_is_deleted(standin, kubeconfig):
    standin.reply("rollout", "status", rc=1, stderr="error: timed out waiting for the condition\n")
    standin.reply("get", "deployment", stdout=deployment_json(revision=1, version=5, ready=0, desired=1))
    standin.reply("get", "pods", stdout={"items": []})
    with pytest.raises(RolloutFailedError) as caught:
        KubernetesTarget().switch(make_spec(kubeconfig, revision=1), None)
    assert caught.value.message.endswith("its objects were deleted (there was no previous revision)")
    assert "no pod of revision 1 was created" in caught.value.log_tail
    assert argvs(standin, kubeconfig)[-1] == [
        *GLOBAL,
        "delete",
        "deployment,service,horizontalpodautoscaler,poddisruptionbudget,secret",
        "--selector",
        SELECT,
        "--ignore-not-found",
    ]
    assert not any("undo" in argv for argv in standin.argvs)


def test_an_unknown_context_stops_before_anything_is_applied(standin, kubeconfig):
    # the real kubectl's words for it (tests/unit/test_kubectl.py checks them with the real client)
    standin.reply("apply", rc=1, stderr="error: context was not found for specified context: staging\n")
    with pytest.raises(ContextNotFoundError) as caught:
        KubernetesTarget().switch(make_spec(kubeconfig), None)
    assert caught.value.exit_code == 4
    assert caught.value.message == "kubectl has no context 'staging'"
    assert len(standin.calls) == 1


def test_kubectl_missing(tmp_path, kubeconfig, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExternalToolError, match="kubectl is not installed") as caught:
        KubernetesTarget().switch(make_spec(kubeconfig), None)
    assert caught.value.exit_code == 4


def test_a_cluster_lost_during_the_wait_is_not_undone_blindly(standin, kubeconfig):
    standin.reply(
        "rollout",
        rc=1,
        stderr=REFUSED,
    )
    with pytest.raises(ClusterUnreachableError) as caught:
        KubernetesTarget().switch(make_spec(kubeconfig), make_spec(kubeconfig, revision=1, version=4))
    assert "deploy status" in caught.value.hint
    assert [argv[6] for argv in standin.argvs] == ["apply", "rollout"]


def test_a_refused_apply_that_left_the_deployment_alone_changes_nothing_else(standin, kubeconfig):
    standin.reply(
        "apply", rc=1, stderr='Error from server (Forbidden): secrets "fraud-api-key" is forbidden\n'
    )
    standin.reply("get", "deployment", stdout=deployment_json(revision=1, version=4, ready=2))
    with pytest.raises(KubectlError, match="Forbidden") as caught:
        KubernetesTarget().switch(make_spec(kubeconfig), make_spec(kubeconfig, revision=1, version=4))
    assert caught.value.exit_code == 4
    assert [argv[6:8] for argv in standin.argvs] == [["apply", "-f"], ["get", "deployment"]]


def test_a_refused_apply_after_the_deployment_changed_is_undone(standin, kubeconfig):
    standin.reply(
        "apply",
        rc=1,
        stderr='Error from server (Invalid): HorizontalPodAutoscaler "fraud" is invalid\n',
        times=1,
    )
    standin.reply("get", "deployment", stdout=deployment_json(revision=2, version=5, ready=1))
    with pytest.raises(KubectlError, match="Invalid"):
        KubernetesTarget().switch(make_spec(kubeconfig), make_spec(kubeconfig, revision=1, version=4))
    assert ["rollout", "undo", "deployment/fraud"] in [argv[6:] for argv in standin.argvs]


def test_ctrl_c_during_the_wait_undoes_then_reraises(standin, kubeconfig, monkeypatch):
    # the one stub here: Ctrl-C cannot be sent through the stand-in, so the wait raises it
    def interrupted(self, kubectl, spec):
        raise KeyboardInterrupt

    monkeypatch.setattr(KubernetesTarget, "_wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        KubernetesTarget().switch(make_spec(kubeconfig), make_spec(kubeconfig, revision=1, version=4))
    assert [argv[6:8] for argv in standin.argvs] == [
        ["apply", "-f"],
        ["rollout", "undo"],
        ["apply", "-f"],
        ["delete", "horizontalpodautoscaler,poddisruptionbudget"],
        ["rollout", "status"],
    ]


def test_the_api_key_variable_must_be_set_before_anything_runs(standin, kubeconfig, monkeypatch):
    monkeypatch.delenv("FRAUD_KEY", raising=False)
    with pytest.raises(UsageError, match="FRAUD_KEY"):
        KubernetesTarget().switch(make_spec(kubeconfig, api_key_env="FRAUD_KEY"), None)
    assert standin.calls == []


def test_push_runs_the_pushed_digest(standin, kubeconfig, monkeypatch):
    """docker.push is replaced here (no registry can run on this machine); the real push and its
    failure are in tests/integration/test_kubernetes_push.py."""
    from mlops_cli.targets import docker

    pushed = []

    def push(image, repository, tag):
        pushed.append((image, repository, tag))
        return f"{repository}@sha256:" + "cd" * 32

    monkeypatch.setattr(docker, "push", push)
    standin.reply("get", "deployment", stdout=deployment_json(revision=2, version=5, ready=1, desired=1))
    spec = make_spec(
        kubeconfig, image="mlops-fraud:5", options={"image": None, "push": "registry.example.com/fraud"}
    )
    KubernetesTarget().switch(spec, None)
    assert pushed == [("mlops-fraud:5", "registry.example.com/fraud", "fraud-v5-" + "ab" * 6)]
    deployment = documents(standin.calls[0]["stdin"])[1]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/fraud@sha256:" + "cd" * 32


def test_status_is_the_truth_of_the_cluster(standin, kubeconfig):
    spec = make_spec(kubeconfig, revision=2)
    standin.reply(
        "get", "deployment", stdout=deployment_json(revision=2, version=5, ready=1, desired=2), times=1
    )
    state = KubernetesTarget().status(spec)
    assert (state.running, state.ready) == (True, False)
    assert state.detail == "1/2 pods ready, revision 2 (fraud v5)"

    rolled_back = deployment_json(revision=1, version=4, ready=2)
    standin.reply("get", "deployment", stdout=rolled_back, times=1)
    state = KubernetesTarget().status(spec)
    assert (state.running, state.ready) == (True, False)
    assert state.detail.endswith("the cluster runs revision 1, not 2")

    standin.reply(
        "get", "deployment", rc=1, stderr='Error from server (NotFound): deployments.apps "fraud" not found\n'
    )
    state = KubernetesTarget().status(spec)
    assert (state.running, state.ready) == (False, False)
    assert state.detail == "no Deployment fraud in namespace ml"


def test_status_shows_a_stalled_rollout(standin, kubeconfig):
    stalled = deployment_json(revision=2, version=5, ready=2, desired=2, updated=1)
    stalled["status"]["replicas"] = 3
    stalled["status"]["conditions"].append(
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "timed out",
        }
    )
    standin.reply("get", "deployment", stdout=copy.deepcopy(stalled))
    state = KubernetesTarget().status(make_spec(kubeconfig))
    assert not state.ready
    assert "rollout in progress (1/2 updated)" in state.detail
    assert "ProgressDeadlineExceeded: timed out" in state.detail


def test_logs_follow_and_tail(standin, kubeconfig):
    standin.reply("logs", stdout="one\ntwo\n")
    lines = list(KubernetesTarget().logs(make_spec(kubeconfig), follow=True, tail=50))
    assert lines == ["one", "two"]
    assert argvs(standin, kubeconfig) == [
        [*GLOBAL, "logs", "deployment/fraud", "--container", "server", "--follow", "--tail", "50"]
    ]


def test_delete_removes_every_object_of_the_deployment_by_label(standin, kubeconfig):
    KubernetesTarget().delete(make_spec(kubeconfig))
    assert argvs(standin, kubeconfig) == [
        [
            *GLOBAL,
            "delete",
            "deployment,service,horizontalpodautoscaler,poddisruptionbudget,secret",
            "--selector",
            SELECT,
            "--ignore-not-found",
        ]
    ]


def test_without_context_or_namespace_kubectl_defaults_apply(standin, tmp_path):
    spec = DeploySpec(
        name="fraud", revision=1, model="fraud", version=1, digest=DIGEST, options={"image": "i:1"}
    )
    standin.reply("get", "deployment", stdout=deployment_json(revision=1, version=1, ready=1, desired=1))
    KubernetesTarget().switch(spec, None)
    assert standin.argvs[0] == ["apply", "-f", "-"]
    assert "namespace" not in documents(standin.calls[0]["stdin"])[0]["metadata"]


def test_a_deployment_cannot_move_to_another_namespace(standin, kubeconfig):
    previous = make_spec(kubeconfig, revision=1, version=4)
    moved = make_spec(kubeconfig, options={"namespace": "other"})
    with pytest.raises(UsageError, match="cannot move"):
        KubernetesTarget().switch(moved, previous)
    with pytest.raises(UsageError, match="cannot move"):
        KubernetesTarget().plan(moved, previous)
    assert standin.calls == []


def test_the_target_has_the_interface_deploy_drives():
    """Same methods and parameters as targets/base.py's Target protocol (deploy/ calls only these)."""
    import inspect

    from mlops_cli.targets.base import Target

    assert KubernetesTarget.name == "kubernetes"
    for method in ("plan", "switch", "status", "logs", "delete"):
        expected = inspect.signature(getattr(Target, method))
        actual = inspect.signature(getattr(KubernetesTarget, method))
        assert list(actual.parameters) == list(expected.parameters), method
        for name, parameter in expected.parameters.items():
            assert actual.parameters[name].default == parameter.default, (method, name)


def test_a_failure_report_that_cannot_be_read_says_so(standin, kubeconfig):
    standin.reply("rollout", "status", rc=1, stderr="error: timed out waiting for the condition\n")
    standin.reply(
        "get",
        "deployment",
        rc=1,
        stderr='Error from server (Forbidden): deployments.apps "fraud" is forbidden\n',
    )
    with pytest.raises(RolloutFailedError) as caught:
        KubernetesTarget().switch(make_spec(kubeconfig), None)
    assert caught.value.message.startswith(
        "revision 2 of fraud did not become ready: timed out waiting for the condition;"
    )
    forbidden = 'Error from server (Forbidden): deployments.apps "fraud" is forbidden'
    assert caught.value.log_tail == [
        f"(could not read the pods: `kubectl get deployment` failed: {forbidden})"
    ]
