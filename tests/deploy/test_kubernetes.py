"""deploy/: the Kubernetes manifests, checked as data (kubectl renders them too when it is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.layout import (
    CONSOLE,
    CONSUMED,
    CONSUMERS,
    DEPLOY,
    IMAGE_PORTS,
    IMAGES,
    REPO,
    SECRET_KEYS,
    SECRET_NAME,
    SERVICES,
    load_documents,
    load_yaml,
)

Manifest = dict[str, Any]


def manifests(folder: str) -> dict[str, Manifest]:
    """The folder's objects by kind; one object per file."""
    found: dict[str, Manifest] = {}
    for path in sorted((DEPLOY / folder).glob("*.yaml")):
        docs = load_documents(path)
        assert len(docs) == 1, f"{path} should hold exactly one object"
        assert docs[0]["kind"] not in found, f"two {docs[0]['kind']} objects in {folder}"
        found[docs[0]["kind"]] = docs[0]
    return found


def pod_spec(name: str) -> Manifest:
    spec: Manifest = manifests(name)["Deployment"]["spec"]["template"]["spec"]
    return spec


def app_container(name: str) -> Manifest:
    containers = pod_spec(name)["containers"]
    assert len(containers) == 1
    container: Manifest = containers[0]
    return container


def probe_port(container: Manifest, port: int | str) -> int:
    if isinstance(port, int):
        return port
    number: int = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
    return number


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_kustomization_lists_every_manifest_and_nothing_else() -> None:
    listed = load_yaml(DEPLOY / "kustomization.yaml")["resources"]
    on_disk = {str(path.relative_to(DEPLOY)) for path in DEPLOY.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == on_disk


def test_kustomization_sets_namespace_and_every_image() -> None:
    kustomization = load_yaml(DEPLOY / "kustomization.yaml")
    namespace = manifests("base")["Namespace"]["metadata"]["name"]
    assert kustomization["namespace"] == namespace
    assert {image["name"] for image in kustomization["images"]} == {f"winback/{name}" for name in IMAGES}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    kinds = re.findall(r"^kind: (\w+)$", result.stdout, re.MULTILINE)
    assert kinds.count("Deployment") == len(IMAGES)
    assert kinds.count("ScaledObject") == len(CONSUMERS)


@pytest.mark.parametrize("name", IMAGES)
def test_each_service_folder_has_its_objects(name: str) -> None:
    kinds = set(manifests(name))
    autoscaler = "ScaledObject" if name in CONSUMERS else "HorizontalPodAutoscaler"
    assert kinds == {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", autoscaler}
    for manifest in manifests(name).values():
        assert manifest["metadata"]["name"] == f"winback-{name}"


@pytest.mark.parametrize("name", IMAGES)
def test_deployment_probes_hit_healthz_and_readyz_on_the_service_port(name: str) -> None:
    container = app_container(name)
    assert [p["containerPort"] for p in container["ports"]] == [IMAGE_PORTS[name]]
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz" and probe_port(container, liveness["port"]) == IMAGE_PORTS[name]
    assert readiness["path"] == "/readyz" and probe_port(container, readiness["port"]) == IMAGE_PORTS[name]
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("name", IMAGES)
def test_deployment_runs_the_image_non_root_read_only_with_resources(name: str) -> None:
    spec = pod_spec(name)
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        assert container["image"] == f"winback/{name}"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{container['name']} {bound}"


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_migrates_in_an_init_container_then_serves(name: str) -> None:
    spec = pod_spec(name)
    assert [c["args"] for c in spec["initContainers"]] == [["migrate"]]
    assert app_container(name)["args"] == ["serve"]


@pytest.mark.parametrize("name", IMAGES)
def test_configuration_comes_from_the_configmap_and_the_secret(name: str) -> None:
    configmap = manifests(name)["ConfigMap"]
    for container in [*pod_spec(name).get("initContainers", []), app_container(name)]:
        assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert set(refs) == SECRET_KEYS[name]
        assert all(ref["name"] == SECRET_NAME and ref["key"] == key for key, ref in refs.items())
    data = configmap["data"]
    assert data["WINBACK_PORT"] == str(IMAGE_PORTS[name])
    assert data["WINBACK_ENV"] == "production"
    assert data["WINBACK_HOST"] == "0.0.0.0"
    assert bool(data.get("WINBACK_KAFKA_BOOTSTRAP")) is (name in SERVICES)  # the console has no broker
    assert not set(data) & SECRET_KEYS[name], "secret values belong in the Secret"


def test_the_console_runs_no_migration_and_reaches_every_service_through_its_service() -> None:
    assert "initContainers" not in pod_spec(CONSOLE)
    data = manifests(CONSOLE)["ConfigMap"]["data"]
    assert data["WINBACK_SECURE_COOKIES"] == "true"
    for name in SERVICES:
        service = manifests(name)["Service"]
        assert (
            data[f"WINBACK_{name.upper()}_URL"]
            == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
        )


def test_campaign_reaches_consent_through_its_service() -> None:
    url = manifests("campaign")["ConfigMap"]["data"]["WINBACK_CONSENT_URL"]
    consent = manifests("consent")["Service"]
    assert url == f"http://{consent['metadata']['name']}:{consent['spec']['ports'][0]['port']}"


@pytest.mark.parametrize("name", IMAGES)
def test_service_and_pdb_select_exactly_this_deployments_pods(name: str) -> None:
    objects = manifests(name)
    deployment = objects["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    service, pdb = objects["Service"], objects["PodDisruptionBudget"]
    assert selects(service["spec"]["selector"], labels)
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert "minAvailable" in pdb["spec"] or "maxUnavailable" in pdb["spec"]
    for other in IMAGES:
        if other != name:
            other_labels = manifests(other)["Deployment"]["spec"]["template"]["metadata"]["labels"]
            assert not selects(pdb["spec"]["selector"]["matchLabels"], other_labels)
            assert not selects(service["spec"]["selector"], other_labels)
    [port] = service["spec"]["ports"]
    assert port["port"] == IMAGE_PORTS[name]
    assert probe_port(app_container(name), port["targetPort"]) == IMAGE_PORTS[name]


@pytest.mark.parametrize("name", IMAGES)
def test_autoscaler_targets_the_deployment_which_sets_no_replicas(name: str) -> None:
    objects = manifests(name)
    # A replica count in the Deployment would reset the autoscaler's choice on every apply.
    assert "replicas" not in objects["Deployment"]["spec"]
    scaler = objects.get("ScaledObject") or objects["HorizontalPodAutoscaler"]
    target = scaler["spec"]["scaleTargetRef"]
    assert target["name"] == objects["Deployment"]["metadata"]["name"]
    assert target.get("kind", "Deployment") == "Deployment"


def test_ingest_scales_on_cpu() -> None:
    hpa = manifests("ingest")["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


@pytest.mark.parametrize("name", CONSUMERS)
def test_consumer_scales_on_the_lag_of_its_consumer_group(name: str) -> None:
    objects = manifests(name)
    scaled = objects["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["minReplicaCount"] >= 1
    kafka = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    assert {t["consumerGroup"] for t in kafka} == {f"winback-{name}"}
    assert {t["topic"] for t in kafka} == CONSUMED[name]
    for trigger in kafka:
        # The consumers never reset to latest (see guides/infrastructure.md); KEDA must count lag the same way.
        assert trigger["offsetResetPolicy"] == "earliest"
        assert trigger["bootstrapServersFromEnv"] in objects["ConfigMap"]["data"]


@pytest.mark.parametrize("name", CONSUMERS)
def test_scaled_topics_are_ones_the_service_code_reads(name: str) -> None:
    # A trigger on a topic the group never reads has no committed offset: KEDA sees the whole topic as lag.
    source = "\n".join(path.read_text() for path in (REPO / "services" / name / "src").rglob("*.py"))
    for topic in CONSUMED[name]:
        member = topic.removeprefix("winback.").replace(".", "_").upper()
        mentioned = f"Topic.{member}" in source or f'"{topic}"' in source
        assert mentioned, f"services/{name} never mentions {topic}: fix the ScaledObject or the consumer"


def all_manifest_files() -> list[Path]:
    return sorted(DEPLOY.rglob("*.yaml"))


def test_no_secret_values_are_committed() -> None:
    for path in all_manifest_files():
        text = path.read_text()
        for doc in load_documents(path):
            assert doc.get("kind") != "Secret", f"{path}: create the Secret out of band"
            assert "secretGenerator" not in doc
        assert not re.search(r"postgres(ql)?(\+\w+)?://[^\s/]*:[^\s@]*@", text), f"{path}: a URL with a password"
        assert not re.search(r"WINBACK_API_KEYS:\s*\S", text), f"{path}: API keys in a manifest"
        assert not re.search(r"dev-(admin|ingest)-key", text), f"{path}: dev keys in production manifests"


def test_readme_documents_every_secret_key() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert SECRET_NAME in readme
    for key in set().union(*SECRET_KEYS.values()):
        assert key in readme
