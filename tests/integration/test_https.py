"""HTTPS with certificates from `iotstream certs dev`, as a user would make them."""

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.exceptions import ConfigError
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog


def test_the_api_serves_https_with_the_development_certificates(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    made = subprocess.run(
        [sys.executable, "-m", "iotstream", "certs", "dev", str(certs)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (certs / "server.key").stat().st_mode & 0o077 == 0  # the keys are the owner's alone
    api = {"port": 0, "tls_cert": certs / "server.pem", "tls_key": certs / "server.key"}
    settings = load_settings(data_dir=tmp_path / "data", api=api, auth={"enabled": True})
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    _, token = store.create_token("default", Role.writer, actor="test")
    store.create_user("ann", "correct horse", "default", Role.reader, actor="test")
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        url = platform.api.url
        assert url.startswith("https://")
        trusted = ssl.create_default_context(cafile=certs / "ca.pem")
        with httpx.Client(
            base_url=url, verify=trusted, headers={"Authorization": f"Bearer {token}"}
        ) as api_client:
            assert (
                api_client.post("/api/v1/readings", json={"datastream": "x", "value": 1}).status_code == 202
            )
            login = api_client.post("/login", json={"username": "ann", "password": "correct horse"})
            assert "Secure" in login.headers["set-cookie"]
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA refuses the server
            httpx.get(f"{url}/healthz")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url.replace("https://", "http://") + "/healthz")
    catalog.close()


def test_a_certificate_without_its_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        load_settings(data_dir=tmp_path, api={"tls_cert": tmp_path / "server.pem"})
    with pytest.raises(ConfigError, match="needs tls_cert and tls_key"):
        load_settings(data_dir=tmp_path, mqtt={"embedded": True, "url": "mqtts://127.0.0.1:8883"})
