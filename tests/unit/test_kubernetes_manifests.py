"""The kubernetes target's manifests: every object validated against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields fail) of the two newest minor versions it
ships, for each combination of replicas, autoscaling, API key and collection; and checked to fit
the image `mlops package` builds (entrypoint flags, user, port, writable paths)."""

from __future__ import annotations

import itertools
import re

import pytest
import yaml

from mlops_cli.errors import UsageError
from mlops_cli.packaging import dockerfile
from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import IMAGE_USER_ID, DeploySpec
from mlops_cli.targets.kubernetes import KubernetesTarget, parse_autoscale

kv = pytest.importorskip("kubernetes_validate.utils", reason="needs the [kubernetes] extra")

DIGEST = "sha256:" + "3f" * 32
KEY_VALUE = "k-3a9f-very-secret"


def newest_two() -> list[str]:
    """The two newest minor versions kubernetes-validate ships (it lists each twice: plain and strict)."""
    from packaging.version import Version

    minors = {kv.major_minor(version) for version in kv.all_versions()}
    return sorted(minors, key=Version)[-2:]


def spec(**changes) -> DeploySpec:
    fields = {
        "name": "fraud",
        "revision": 4,
        "model": "fraud-detector",
        "version": 7,
        "digest": DIGEST,
        "options": {"image": "registry.example.com/fraud:7"},
    }
    options = changes.pop("options", {})
    fields.update(changes)
    fields["options"] = {**fields["options"], **options}
    return DeploySpec(**fields)


def documents(deploy: DeploySpec, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """What a plan shows, read back from its YAML (so the YAML, not only the dicts, is checked)."""
    monkeypatch.setenv("FRAUD_KEY", KEY_VALUE)
    return list(yaml.safe_load_all(KubernetesTarget().plan(deploy, None)["yaml"]))


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in docs}


COMBINATIONS = list(
    itertools.product(
        (1, 3),  # replicas
        (None, "2:6:70"),  # autoscale
        (None, "FRAUD_KEY"),  # api_key_env
        (False, True),  # collect
    )
)


@pytest.mark.parametrize("replicas,autoscale,api_key_env,collect", COMBINATIONS)
def test_every_manifest_passes_strict_schema_validation(
    monkeypatch, replicas, autoscale, api_key_env, collect
):
    deploy = spec(
        replicas=replicas,
        api_key_env=api_key_env,
        collect=collect,
        cpu=0.25,
        memory="300Mi",
        env={"LOG_FORMAT": "json"},
        options={"namespace": "models", "autoscale": autoscale},
    )
    docs = documents(deploy, monkeypatch)
    kinds = [doc["kind"] for doc in docs]
    assert ("Secret" in kinds) == bool(api_key_env)
    assert ("HorizontalPodAutoscaler" in kinds) == bool(autoscale)
    # a PDB when more than one pod must stay up: replicas > 1, or an autoscaler's minimum > 1
    assert ("PodDisruptionBudget" in kinds) == (replicas > 1 or autoscale is not None)
    versions = newest_two()
    assert len(versions) == 2
    for doc in docs:
        for version in versions:
            assert kv.validate(doc, version, strict=True) == version


def test_strict_validation_catches_a_wrong_field(monkeypatch):
    """Proof the validation above would fail: a misspelt field and a wrong type are refused."""
    deployment = by_kind(documents(spec(), monkeypatch))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, newest_two()[-1], strict=True)
    deployment = by_kind(documents(spec(), monkeypatch))["Deployment"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, newest_two()[-1], strict=True)


def test_deployment_probes_security_and_rollout(monkeypatch):
    deployment = by_kind(documents(spec(replicas=2, wait_timeout=90), monkeypatch))["Deployment"]
    body = deployment["spec"]
    assert body["replicas"] == 2
    assert body["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert body["progressDeadlineSeconds"] == 90
    pod = body["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    # the startup probe gives the model the whole wait timeout to load before liveness counts
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 90
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["automountServiceAccountToken"] is False


def test_labels_and_annotations_name_model_version_digest_deployment_revision(monkeypatch):
    docs = documents(spec(replicas=2, options={"autoscale": (2, 4, 60)}), monkeypatch)
    for doc in docs:
        labels, notes = doc["metadata"]["labels"], doc["metadata"]["annotations"]
        assert labels["mlops/deployment"] == "fraud"
        assert labels["mlops/revision"] == "4"
        assert labels["mlops/model"] == "fraud-detector"
        assert labels["mlops/version"] == "7"
        assert notes["mlops/digest"] == DIGEST
        assert notes["mlops/model"] == "fraud-detector"
    deployment = by_kind(docs)["Deployment"]
    template = deployment["spec"]["template"]["metadata"]
    assert template["labels"]["mlops/revision"] == "4"
    assert template["annotations"]["mlops/digest"] == DIGEST
    # every revision must be selected by the same, immutable selector: no revision in it
    selector = {"mlops/deployment": "fraud"}
    assert deployment["spec"]["selector"]["matchLabels"] == selector
    assert by_kind(docs)["Service"]["spec"]["selector"] == selector
    assert by_kind(docs)["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector


def test_a_long_model_name_becomes_a_valid_label_and_stays_whole_in_the_annotation(monkeypatch):
    name = "a" * 70 + "."
    docs = documents(spec(model=name), monkeypatch)
    deployment = by_kind(docs)["Deployment"]
    label = deployment["metadata"]["labels"]["mlops/model"]
    assert len(label) <= 63 and re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", label)
    assert deployment["metadata"]["annotations"]["mlops/model"] == name
    kv.validate(deployment, newest_two()[-1], strict=True)


def test_resources_come_from_cpu_and_memory_with_documented_defaults(monkeypatch):
    container = by_kind(documents(spec(cpu=1.5, memory="1Gi"), monkeypatch))["Deployment"]["spec"][
        "template"
    ]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "1500m", "memory": "1Gi"},
        "limits": {"cpu": "1500m", "memory": "1Gi"},
    }
    defaults = by_kind(documents(spec(), monkeypatch))["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert defaults["resources"]["requests"] == {"cpu": "500m", "memory": k8s.DEFAULT_MEMORY}


def test_the_api_key_goes_through_a_secret_never_as_a_literal(monkeypatch):
    monkeypatch.setenv("FRAUD_KEY", KEY_VALUE)
    deploy = spec(api_key_env="FRAUD_KEY")
    settings = k8s.Settings(image="img:1")
    applied = k8s.manifests(deploy, settings, api_key=KEY_VALUE)
    secret, deployment = by_kind(applied)["Secret"], by_kind(applied)["Deployment"]
    assert secret["stringData"] == {"api-key": KEY_VALUE}
    assert KEY_VALUE not in k8s.to_yaml([deployment])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {
        "name": "FRAUD_KEY",
        "valueFrom": {"secretKeyRef": {"name": "fraud-api-key", "key": "api-key"}},
    } in (container["env"])
    # the plan (--dry-run) never shows the value either
    assert KEY_VALUE not in KubernetesTarget().plan(deploy, None)["yaml"]


def test_with_an_autoscaler_the_deployment_keeps_the_running_count_within_bounds(monkeypatch):
    docs = by_kind(documents(spec(replicas=3, options={"autoscale": "2:8:65"}), monkeypatch))
    assert docs["Deployment"]["spec"]["replicas"] == 2  # a plan asks no cluster: MIN
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 65}
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud"}
    scale = k8s.Autoscale(2, 8, 65)
    for running, expected in ((None, 2), (1, 2), (5, 5), (12, 8)):
        settings = k8s.Settings(image="i:1", autoscale=scale, current_pods=running)
        assert k8s.deployment(spec(), settings)["spec"]["replicas"] == expected


def test_collected_data_goes_to_an_emptydir_or_the_named_claim(monkeypatch):
    pod = by_kind(documents(spec(collect=True), monkeypatch))["Deployment"]["spec"]["template"]["spec"]
    assert {"name": "collected", "emptyDir": {}} in pod["volumes"]
    assert pod["containers"][0]["args"] == ["--collect", k8s.COLLECT_DIR]
    pod = by_kind(documents(spec(collect=True, options={"collect_claim": "fraud-data"}), monkeypatch))[
        "Deployment"
    ]
    volumes = pod["spec"]["template"]["spec"]["volumes"]
    assert {"name": "collected", "persistentVolumeClaim": {"claimName": "fraud-data"}} in volumes


def test_the_pod_fits_the_image_mlops_package_builds(monkeypatch):
    """User, port and entrypoint flags as packaging/dockerfile.py writes them, and the args the
    manifest adds are ones the image's server accepts (its own argument parser reads them)."""
    from mlops_cli.serving import __main__ as serving_main

    text = dockerfile.render("fraud:7", DIGEST, "base:1", {"a": "b"})
    assert f"USER {IMAGE_USER_ID}:{IMAGE_USER_ID}" in text
    assert f"PORT={k8s.CONTAINER_PORT}" in text and "HOME=/tmp" in text
    entrypoint = re.search(r"^ENTRYPOINT (.*)$", text, re.M).group(1)
    container = by_kind(documents(spec(api_key_env="FRAUD_KEY", collect=True), monkeypatch))["Deployment"][
        "spec"
    ]["template"]["spec"]["containers"][0]
    seen = {}
    monkeypatch.setattr(serving_main, "serve", lambda config: seen.setdefault("config", config))
    monkeypatch.delenv("PORT", raising=False)
    serving_main.main([*__import__("json").loads(entrypoint)[3:], *container["args"]])
    config = seen["config"]
    assert (config.bundle, config.host, config.port) == ("/model", "0.0.0.0", k8s.CONTAINER_PORT)
    assert config.api_key_env == "FRAUD_KEY"
    assert config.collect_dir == k8s.COLLECT_DIR
    assert container["ports"][0]["containerPort"] == k8s.CONTAINER_PORT


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"name": "Fraud_1"}, "not a valid Kubernetes name"),
        ({"options": {"namespace": "ML"}}, "not a valid Kubernetes name"),
        ({"memory": "lots"}, "not a Kubernetes quantity"),
        ({"replicas": 0}, "at least 1"),
        ({"options": {"autoscale": "3:2:50"}}, "MIN <= MAX"),
        ({"options": {"autoscale": "a:b"}}, "not MIN:MAX:CPU%"),
        ({"options": {"image": None}}, "needs an image the cluster can pull"),
        ({"options": {"push": "registry.example.com/fraud"}}, "--image and --push exclude each other"),
        ({"options": {"image": None, "push": "registry.example.com/fraud"}}, "--push needs a local image"),
        ({"options": {"kubeconfig": "/nonexistent/kubeconfig"}}, "no such file"),
        ({"env": {"BAD NAME": "1"}}, "not a valid environment variable name"),
    ],
)
def test_impossible_settings_are_usage_errors(changes, message):
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        KubernetesTarget().plan(spec(**changes), None)
    assert caught.value.exit_code == 2


def test_plan_with_push_names_the_tag_it_will_push():
    plan = KubernetesTarget().plan(
        spec(image="mlops-fraud:7", options={"image": None, "push": "registry.example.com/fraud"}), None
    )
    assert plan["push"] == {
        "image": "mlops-fraud:7",
        "repository": "registry.example.com/fraud",
        "tag": "fraud-detector-v7-" + "3f" * 6,
    }
    assert plan["image"] == "registry.example.com/fraud:fraud-detector-v7-" + "3f" * 6


def test_parse_autoscale_accepts_tuples_and_text():
    assert parse_autoscale((1, 3, 50)) == k8s.Autoscale(1, 3, 50)
    assert parse_autoscale("2:10:70") == k8s.Autoscale(2, 10, 70)
    assert parse_autoscale(None) is None
