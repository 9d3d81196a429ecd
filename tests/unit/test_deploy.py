"""The deployment files in deploy/ cannot run here (no Docker, no cluster), so this checks what can go
stale: every iotstream command in them parses with this version's CLI, names real roles, reads a
configuration this version accepts, and probes the routes that answer health and readiness."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from iotstream.api.health import router as health_router
from iotstream.cli.main import app
from iotstream.config import load_settings
from iotstream.roles import ROLE_NAMES, Platform

DEPLOY = Path(__file__).parents[2] / "deploy"
CONFIG = "/etc/iotstream/iotstream.toml"


def _run_arguments(args: list[str]) -> dict[str, Any]:
    """The parameters `iotstream run` parses from `args` (raises on an unknown option or role list)."""
    assert args[0] == "run", args
    command = get_command(app).get_command(None, "run")  # type: ignore[attr-defined]
    params: dict[str, Any] = command.make_context("run", list(args[1:])).params
    assert set(params["roles"]) <= set(ROLE_NAMES), params["roles"]
    return params


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return compose


def _iotstream_services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    return {name: s for name, s in services.items() if s.get("image") == "iotstream:latest"}


def test_the_compose_file_runs_the_roles_the_distributed_mode_needs() -> None:
    roles = [tuple(_run_arguments(s["command"])["roles"]) for s in _iotstream_services().values()]
    assert sorted(roles) == sorted(
        [("api", "registry")] * 2 + [("jobs",)] * 2 + [("sink",), ("notify",), ("mqtt", "registry")]
    )
    assert {"kafka", "postgres", "mosquitto", "prometheus", "grafana"} <= set(_compose()["services"])


def test_every_compose_command_and_file_is_valid_for_this_version() -> None:
    for name, service in _iotstream_services().items():
        params = _run_arguments(service["command"])
        assert params["config"] == Path(CONFIG), name
        assert params["port"] == 8000, name  # what the healthcheck and Prometheus ask
        [mount] = [v for v in service["volumes"] if v.split(":")[1] == CONFIG]
        settings = load_settings(DEPLOY / mount.split(":")[0])
        Platform(settings, params["roles"])  # roles and configuration accepted (nothing started)
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{source} is not in deploy/"


def test_the_compose_configuration_reaches_the_compose_services() -> None:
    settings = load_settings(DEPLOY / "compose" / "iotstream.toml")
    assert settings.log.url == "kafka://kafka:9092"
    assert settings.log.default_partitions == 4  # jobs-1 and jobs-2 share them
    assert "@postgres:5432/" in settings.storage.url
    assert "@postgres:5432/" in settings.registry.url
    assert settings.mqtt.url == "mqtt://mosquitto:1883"
    assert [job.name for job in settings.jobs] == ["home"]
    scraped = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = scraped["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(t.split(":")[0] for t in targets) == sorted(_iotstream_services())


def _kubernetes() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / "kubernetes" / "iotstream.yaml").read_text()))


def test_every_kubernetes_deployment_is_valid_for_this_version(tmp_path: Path) -> None:
    [config_map] = [d for d in _kubernetes() if d["kind"] == "ConfigMap"]
    toml = tmp_path / "iotstream.toml"
    toml.write_text(config_map["data"]["iotstream.toml"])
    settings = load_settings(toml)
    routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    replicas = {}
    for deployment in (d for d in _kubernetes() if d["kind"] == "Deployment"):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        params = _run_arguments(container["args"])
        Platform(settings, params["roles"])
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            assert container[probe]["httpGet"] == {"path": path, "port": params["port"]}
            assert path in routes
        replicas[params["roles"][0]] = deployment["spec"]["replicas"]
    assert replicas == {"api": 2, "mqtt": 1, "jobs": 2, "sink": 1, "notify": 1}


def test_the_image_installs_the_lock_and_starts_the_cli() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    for sources in copied:
        for source in sources:
            assert (DEPLOY.parent / source).exists(), source
    assert "--require-hashes" in dockerfile
    entrypoint = next(line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT"))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["iotstream"]  # pyproject's script


def test_a_command_this_version_does_not_know_is_caught() -> None:
    """The check above can fail: an option `run` does not have is refused."""
    with pytest.raises(Exception, match="--replicas"):
        _run_arguments(["run", "jobs", "--replicas", "2"])
