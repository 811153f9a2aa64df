"""The kubectl runner: argv, timeouts, and kubectl's failures turned into clear errors.

Unknown context and unreachable cluster are checked against the REAL kubectl client (installed
by .ci/run; skipped where it is absent): its own messages are what the runner must recognise.
A cluster is never needed for those. Timeouts and streaming use the stand-in (tests/kubectl_standin.py).
"""

from __future__ import annotations

import shutil
import socket

import pytest

from mlops_cli.errors import ExternalToolError
from mlops_cli.targets.kubectl import (
    ClusterUnreachableError,
    ContextNotFoundError,
    Kubectl,
    KubectlError,
    KubectlMissingError,
    useful_line,
)
from tests.kubectl_standin import install

REAL_KUBECTL = shutil.which("kubectl")
needs_real_kubectl = pytest.mark.skipif(REAL_KUBECTL is None, reason="no real kubectl client on PATH")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:{port}
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: nobody
current-context: nowhere
users:
- name: nobody
  user:
    token: not-a-real-token
"""


SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG.format(port=closed_port()))
    return str(path)


def test_argv_puts_kubeconfig_context_and_namespace_before_the_verb():
    kubectl = Kubectl(context="prod", kubeconfig="/k/config", namespace="ml")
    assert kubectl.argv("get", "pods") == [
        "kubectl",
        "--kubeconfig",
        "/k/config",
        "--context",
        "prod",
        "--namespace",
        "ml",
        "get",
        "pods",
    ]
    assert Kubectl().argv("get", "pods") == ["kubectl", "get", "pods"]


def test_kubectl_missing_is_a_clear_external_tool_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no kubectl anywhere
    with pytest.raises(KubectlMissingError) as caught:
        Kubectl().run("get", "pods")
    assert caught.value.exit_code == 4
    assert "kubectl is not installed" in caught.value.message
    assert "kubernetes.io" in caught.value.hint
    with pytest.raises(KubectlMissingError):
        list(Kubectl().stream("logs", "deployment/x"))


@needs_real_kubectl
def test_unknown_context_with_the_real_kubectl(kubeconfig):
    with pytest.raises(ContextNotFoundError) as caught:
        Kubectl(context="no-such-context", kubeconfig=kubeconfig).run("get", "deployment", "x")
    assert caught.value.exit_code == 4
    assert caught.value.message == "kubectl has no context 'no-such-context'"
    assert "get-contexts" in caught.value.hint


@needs_real_kubectl
def test_unreachable_cluster_with_the_real_kubectl(kubeconfig):
    with pytest.raises(ClusterUnreachableError) as caught:
        Kubectl(kubeconfig=kubeconfig, timeout=30).run("get", "deployment", "x", "-o", "json")
    error = caught.value
    assert error.exit_code == 4
    assert error.message.startswith("cannot reach the Kubernetes cluster: ")
    assert "127.0.0.1" in error.message
    assert "memcache.go" not in error.message  # client-go's log noise is not the message
    assert "cluster-info" in error.hint
    # `apply` fails differently (it first downloads the OpenAPI schema): still unreachable
    with pytest.raises(ClusterUnreachableError):
        Kubectl(kubeconfig=kubeconfig, timeout=30).run("apply", "-f", "-", input=SERVICE)


def test_a_failure_carries_the_useful_line(tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply(
        "apply",
        rc=1,
        stderr=(
            'E1205 07:36:26.148218   18908 memcache.go:265] "Unhandled Error" err="noise"\n'
            'Error from server (Forbidden): deployments.apps "x" is forbidden: quota\n'
        ),
    )
    with pytest.raises(KubectlError) as caught:
        Kubectl(namespace="ml").run("apply", "-f", "-", input="{}")
    error = caught.value
    assert error.message == (
        '`kubectl apply` failed: Error from server (Forbidden): deployments.apps "x" is forbidden: quota'
    )
    assert error.argv == ["kubectl", "--namespace", "ml", "apply", "-f", "-"]
    assert error.returncode == 1 and not error.not_found
    assert standin.calls == [{"argv": ["--namespace", "ml", "apply", "-f", "-"], "stdin": "{}"}]


def test_not_found_is_recognised(tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply("get", rc=1, stderr='Error from server (NotFound): deployments.apps "x" not found\n')
    with pytest.raises(KubectlError) as caught:
        Kubectl().run_json("get", "deployment", "x")
    assert caught.value.not_found
    assert standin.argvs == [["get", "deployment", "x", "-o", "json"]]


def test_a_kubectl_that_hangs_is_stopped_at_the_timeout(tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply("get", sleep=30)
    with pytest.raises(KubectlError, match=r"`kubectl get pods` did not finish within 1s") as caught:
        Kubectl(timeout=1).run("get", "pods")
    assert isinstance(caught.value, ExternalToolError) and caught.value.returncode is None


def test_stream_yields_lines_and_raises_on_failure(tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply("logs", "deployment/ok", stdout="line 1\nline 2\n")
    standin.reply(
        "logs", "deployment/gone", rc=1, stderr='Error from server (NotFound): deployments.apps "gone"\n'
    )
    assert list(Kubectl().stream("logs", "deployment/ok")) == ["line 1", "line 2"]
    with pytest.raises(KubectlError, match="NotFound"):
        list(Kubectl().stream("logs", "deployment/gone"))


def test_useful_line_prefers_the_error_line():
    assert useful_line(
        "I1205 10:00:00.000000   1 x.go:1] info\nerror: timed out waiting for the condition\n"
    ) == ("error: timed out waiting for the condition")
    assert useful_line("something\nlast words\n") == "last words"
    assert useful_line("") == "no output on stderr"
