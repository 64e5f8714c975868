"""deploy/compose.yaml, as `docker compose config` resolves it (no Docker engine needed)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess

import pytest

from .conftest import DEPLOY, ROOT, documented_variables

COMPOSE = DEPLOY / "compose.yaml"
OFFLOAD = {"migrate", "api", "email-worker", "report-worker", "analytics-worker", "scheduler"}
BACKING = {"postgres", "redis", "mailpit"}
WORKERS = {"email-worker", "report-worker", "analytics-worker"}
LONG_RUNNING = OFFLOAD - {"migrate"}
DUMMY_PASSWORD = "not-a-real-password"


def run_compose(tool, tmp_path, *args, with_password=True):
    """docker-compose with a bare environment and an empty env file instead of deploy/.env."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if with_password:
        env["POSTGRES_PASSWORD"] = DUMMY_PASSWORD
    return subprocess.run(
        [tool("docker-compose"), "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(tool, tmp_path_factory):
    result = run_compose(tool, tmp_path_factory.mktemp("compose"), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(config):
    return config["services"]


def seconds(duration):
    """A compose duration ("30s", "1m30s", "1500ms") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_config_is_valid(tool, tmp_path):
    result = run_compose(tool, tmp_path, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_without_postgres_password_it_refuses_with_a_clear_message(tool, tmp_path):
    result = run_compose(tool, tmp_path, "config", "--quiet", with_password=False)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "deploy/.env.example" in result.stderr, result.stderr


def test_every_service_is_there(services):
    assert set(services) >= OFFLOAD | BACKING
    assert {name for name, s in services.items() if s["image"].startswith("offload/")} == OFFLOAD


def test_redis_is_durable_and_never_evicts(services):
    command = services["redis"]["command"]
    options = {flag: value for flag, value in itertools.pairwise(command) if flag.startswith("--")}
    assert options.get("--appendonly") == "yes"
    assert options.get("--maxmemory-policy") == "noeviction"
    assert services["redis"]["volumes"][0]["type"] == "volume"


def test_postgres_has_a_volume_and_a_healthcheck(services):
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert postgres["volumes"][0]["type"] == "volume"
    assert "pg_isready" in postgres["healthcheck"]["test"]


@pytest.mark.parametrize("name", sorted(OFFLOAD - {"migrate"}))
def test_offload_service_builds_its_own_target(services, name):
    build = services[name]["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert build["target"] == name
    assert services[name]["image"].startswith(f"offload/{name}:")


def test_migrations_run_first(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["offload", "migrate"]
    assert migrate["image"] == services["api"]["image"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in LONG_RUNNING:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


@pytest.mark.parametrize("name", sorted(OFFLOAD))
def test_offload_service_reads_only_documented_variables(services, name):
    undocumented = set(services[name].get("environment", {})) - documented_variables()
    assert not undocumented, f"{name} sets variables the README does not document"


@pytest.mark.parametrize("name", sorted(OFFLOAD))
def test_offload_service_is_locked_down(services, name):
    service = services[name]
    assert service.get("read_only") is True
    assert "/tmp" in service.get("tmpfs", [])
    assert service.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in service.get("security_opt", [])
    assert "user" not in service  # the image's numeric non-root user


def test_long_running_services_restart(services):
    for name in LONG_RUNNING | BACKING:
        assert services[name].get("restart") == "unless-stopped", name


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_worker_gets_time_to_finish_before_sigkill(services, name):
    """stop_grace_period must outlast OFFLOAD_WORKER_SHUTDOWN_SECONDS (20 by default), with a
    few seconds for Dramatiq to exit after that bound."""
    service = services[name]
    shutdown = float(service.get("environment", {}).get("OFFLOAD_WORKER_SHUTDOWN_SECONDS", 20))
    assert seconds(service.get("stop_grace_period", "10s")) >= shutdown + 5


@pytest.mark.parametrize("name", sorted(WORKERS | {"scheduler"}))
def test_worker_can_be_scaled(services, name):
    assert "container_name" not in services[name]
    assert not services[name].get("ports")


def test_only_loopback_ports_are_published(services):
    published = [(name, port) for name, s in services.items() for port in s.get("ports", []) or []]
    assert published, "the API and the mail UI are published"
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", (name, port)
    assert any(n == "api" and p["target"] == 8080 for n, p in published)  # api-proxy's port


def test_the_api_is_published_through_its_nginx_front(services):
    """api-proxy shares the API's network namespace, so the API's published port reaches nginx,
    which runs the very file Kubernetes runs (tests/e2e/test_api_proxy.py tests it)."""
    proxy = services["api-proxy"]
    assert proxy["network_mode"] == "service:api"
    (conf,) = proxy["volumes"]
    assert conf["source"] == str(DEPLOY / "k8s" / "base" / "api-proxy.conf")
    assert (conf["target"], conf["read_only"]) == ("/etc/nginx/nginx.conf", True)
    assert services["api"]["environment"]["OFFLOAD_TRUSTED_PROXY_HOPS"] == "1"
    assert proxy.get("read_only") is True
    assert "/tmp" in proxy.get("tmpfs", [])
    assert proxy.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in proxy.get("security_opt", [])
    assert proxy.get("restart") == "unless-stopped"


def test_api_readiness_is_checked_without_curl(services):
    test = services["api"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "/readyz" in test[-1]
