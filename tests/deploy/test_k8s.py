"""deploy/k8s, checked without a cluster: each overlay builds, validates against the Kubernetes
schemas, passes checkov, and holds what the README promises of it (hardening, probes, grace
periods, a backlog autoscaler per worker, ingress to the API only).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from offload_shared.catalog import QUEUES
from tests.deploy.conftest import DEPLOY, documented_variables

OVERLAYS = sorted(p.name for p in (DEPLOY / "k8s" / "overlays").iterdir())
WORKERS = {  # Deployment -> the one queue it consumes
    "offload-email-worker": "email",
    "offload-report-worker": "reports",
    "offload-analytics-worker": "analytics",
}
SERVICES = {"offload-api", "offload-scheduler", *WORKERS}
PROXY = "api-proxy"  # nginx in the API's pod


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request, tool, tmp_path_factory) -> tuple[str, Path, list[dict]]:
    """The overlay as `kubectl kustomize` builds it: its name, the file, the parsed objects."""
    result = run(tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / request.param))
    assert result.returncode == 0, result.stderr
    out = tmp_path_factory.mktemp(request.param) / "built.yaml"
    out.write_text(result.stdout)
    return request.param, out, [d for d in yaml.safe_load_all(result.stdout) if d]


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def offload_deployments(objects: list[dict]) -> dict[str, dict]:
    return {n: d for n, d in of_kind(objects, "Deployment").items() if n in SERVICES}


def offload_containers(deployment: dict) -> list[dict]:
    """The containers running Offload's own image (the API's pod also runs nginx)."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return [c for c in containers if c["name"] != PROXY]


def config(objects: list[dict]) -> dict[str, str]:
    (config_map,) = (o for o in objects if o["metadata"]["name"].startswith("offload-config"))
    return config_map["data"]


def test_every_overlay_validates_against_the_kubernetes_schemas(built, tool):
    _, path, _ = built
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    # KEDA's kinds are custom resources with no schema there; tests below check them.
    unknown = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert all("keda.sh/v1alpha1" in line for line in unknown), unknown


def test_checkov_finds_nothing_beyond_the_justified_exceptions(built, tool):
    _, path, _ = built
    result = run(
        tool("checkov"), "-f", str(path), "--framework", "kubernetes", "--skip-download",
        "--output", "json",
    )  # fmt: skip
    report = json.loads(result.stdout)
    failed = [
        (c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, skipped["check_id"]  # an exception says why


def test_the_config_map_holds_only_documented_variables(built):
    _, _, objects = built
    assert set(config(objects)) <= documented_variables()


def test_no_secret_is_committed_and_every_service_reads_the_referenced_one(built):
    _, _, objects = built
    assert of_kind(objects, "Secret") == {}
    for name, deployment in offload_deployments(objects).items():
        for container in offload_containers(deployment):
            refs = {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e}
            assert refs == {"offload-secrets"}, name


def test_pods_are_hardened(built):
    _, _, objects = built
    pods = [d["spec"]["template"] for d in offload_deployments(objects).values()]
    pods.append(of_kind(objects, "Job")["offload-migrate"]["spec"]["template"])
    for pod in pods:
        spec = pod["spec"]
        name = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name


def test_long_running_services_have_probes_and_a_writable_tmp(built):
    _, _, objects = built
    health_port = int(config(objects)["OFFLOAD_HEALTH_PORT"])
    for name, deployment in offload_deployments(objects).items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = offload_containers(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            port = container[probe]["httpGet"]["port"]
            assert port in ports, (name, probe)
        if name == "offload-api":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        else:
            assert ports["health"] == health_port, name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in container["volumeMounts"])


def test_workers_get_longer_to_stop_than_they_take(built):
    _, _, objects = built
    shutdown = float(config(objects)["OFFLOAD_WORKER_SHUTDOWN_SECONDS"])
    deployments = offload_deployments(objects)
    for name in WORKERS:
        grace = deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > shutdown + 5, name  # the shutdown bound plus the process's own exit


def test_each_service_has_a_disruption_budget(built):
    _, _, objects = built
    budgets = of_kind(objects, "PodDisruptionBudget")
    for name, deployment in offload_deployments(objects).items():
        selects = deployment["spec"]["selector"]["matchLabels"]
        assert any(b["spec"]["selector"]["matchLabels"] == selects for b in budgets.values()), name


def test_only_the_api_takes_ingress_and_prometheus_reaches_the_health_ports(built):
    _, _, objects = built
    policies = of_kind(objects, "NetworkPolicy").values()
    deny = of_kind(objects, "NetworkPolicy")["offload-deny-ingress"]["spec"]
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "offload"}
    assert "ingress" not in deny
    assert deny["policyTypes"] == ["Ingress"]
    open_to: dict[str, list] = {}
    for name, deployment in offload_deployments(objects).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"].items()
        for p in policies:
            if (
                p["spec"].get("ingress")
                and p["spec"]["podSelector"]["matchLabels"].items() <= labels
            ):
                open_to.setdefault(name, []).extend(p["spec"]["ingress"])
    assert [rule["ports"] for rule in open_to.pop("offload-api")] == [
        [{"port": "http", "protocol": "TCP"}]
    ]
    monitoring = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert set(open_to) == {"offload-email-worker", "offload-report-worker",
                            "offload-analytics-worker", "offload-scheduler"}  # fmt: skip
    for name, rules in open_to.items():
        assert rules == [{"from": monitoring, "ports": [{"port": "health", "protocol": "TCP"}]}], (
            name
        )
        annotations = offload_deployments(objects)[name]["spec"]["template"]["metadata"]
        assert annotations["annotations"]["prometheus.io/path"] == "/metrics", name


def test_each_worker_scales_on_its_own_queue_backlog(built):
    _, _, objects = built
    scaled = {
        o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(objects, "ScaledObject").values()
    }
    auth = of_kind(objects, "TriggerAuthentication")
    assert set(scaled) == set(WORKERS)
    assert set(WORKERS.values()) == QUEUES  # every queue of the catalog has its worker
    for name, queue in WORKERS.items():
        spec = scaled[name]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert "replicas" not in offload_deployments(objects)[name]["spec"]  # KEDA owns it
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "postgresql"
        assert f"queue = '{queue}'" in trigger["metadata"]["query"]
        assert trigger["authenticationRef"]["name"] in auth


def test_the_migration_job_runs_offload_migrate_and_services_wait_for_it(built):
    _, _, objects = built
    job = of_kind(objects, "Job")["offload-migrate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["offload", "migrate"]
    for name, deployment in offload_deployments(objects).items():
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init["command"] == ["offload", "migrate", "--check"], name


@pytest.mark.parametrize("component", ["hpa", "hpa-backlog"])
def test_the_hpa_components_replace_keda_with_plain_autoscalers(tool, tmp_path, component):
    """hpa scales on CPU; hpa-backlog on the figure KEDA uses, offload_queue_backlog (the
    gauge every /metrics serves), with the ScaledObjects' targets per replica."""
    overlay = tmp_path / f"with-{component}"
    overlay.mkdir()

    def rel(path: Path) -> str:  # kustomize takes relative paths only
        return os.path.relpath(path, overlay)

    (overlay / "kustomization.yaml").write_text(
        f"resources: [{rel(DEPLOY / 'k8s/overlays/prod')}]\n"
        f"components: [{rel(DEPLOY / 'k8s/components' / component)}]\n"
    )
    result = run(
        tool("kubectl"), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)
    )
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert of_kind(objects, "ScaledObject") == {}
    assert of_kind(objects, "TriggerAuthentication") == {}
    targets = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(objects, "HorizontalPodAutoscaler").values()
    }
    assert targets == set(WORKERS)
    base = [
        d for f in (DEPLOY / "k8s/base").glob("*.yaml") for d in yaml.safe_load_all(f.read_text())
    ]
    keda = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["triggers"][0]["metadata"]
        for o in of_kind([d for d in base if d], "ScaledObject").values()
    }
    for h in of_kind(objects, "HorizontalPodAutoscaler").values():
        name = h["spec"]["scaleTargetRef"]["name"]
        [metric] = h["spec"]["metrics"]
        if component == "hpa":
            assert metric["type"] == "Resource", name
            continue
        assert metric["type"] == "External", name
        assert metric["external"]["metric"] == {
            "name": "offload_queue_backlog",
            "selector": {"matchLabels": {"queue": WORKERS[name]}},
        }
        target = metric["external"]["target"]
        assert target == {"type": "AverageValue", "averageValue": keda[name]["targetQueryValue"]}
    (overlay / "built.yaml").write_text(result.stdout)
    validated = run(tool("kubernetes-validate"), "--strict", "--quiet", str(overlay / "built.yaml"))
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_the_api_takes_traffic_only_through_its_nginx_front(built):
    """The Service and the NetworkPolicy reach nginx's port, which runs the very file compose
    mounts (tests/e2e/test_api_proxy.py tests it); the API's own port serves nginx and probes."""
    _, _, objects = built
    deployment = of_kind(objects, "Deployment")["offload-api"]
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    proxy_ports = {p["name"]: p["containerPort"] for p in containers[PROXY]["ports"]}
    api_ports = {p["name"]: p["containerPort"] for p in containers["api"]["ports"]}
    assert proxy_ports == {"http": 8080}
    assert api_ports == {"app": 8000}
    (service_port,) = of_kind(objects, "Service")["offload-api"]["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    ingress = of_kind(objects, "NetworkPolicy")["offload-api-ingress"]["spec"]["ingress"]
    assert [p["port"] for rule in ingress for p in rule["ports"]] == ["http"]
    (volume,) = (v for v in pod["volumes"] if "configMap" in v)
    (conf_map,) = (o for o in objects if o["metadata"]["name"] == volume["configMap"]["name"])
    assert (
        conf_map["data"]["nginx.conf"] == (DEPLOY / "k8s" / "base" / "api-proxy.conf").read_text()
    )
    mount = next(m for m in containers[PROXY]["volumeMounts"] if m["name"] == volume["name"])
    assert (mount["mountPath"], mount["subPath"]) == ("/etc/nginx/nginx.conf", "nginx.conf")
    assert containers[PROXY]["livenessProbe"]["tcpSocket"]["port"] == "http"
    assert containers[PROXY]["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert int(config(objects)["OFFLOAD_TRUSTED_PROXY_HOPS"]) >= 1
