"""Distributed mode: an external mosquitto whose password and ACL files `iotstream mqtt-access --follow`
keeps current; iotstream's MQTT ingestion logs in as its own user, devices with their tokens."""

import os
import subprocess
import sys
import time
from pathlib import Path

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.ingest.mqtt_broker import find_mosquitto, mosquitto_config
from iotstream.registry.access import AccessStore, Role
from iotstream.registry.catalog import open_catalog
from tests.integration.test_mqtt_tenants import Device, Site, readings, wait_for
from tests.servers import Server, free_port

PASSWORD = "iotstream's own secret"  # noqa: S105 - a test's


def test_an_external_mosquitto_follows_the_catalogs_tokens(tmp_path: Path) -> None:
    mosquitto = find_mosquitto()
    assert mosquitto is not None, "install mosquitto: apt-get install mosquitto"
    port, files = free_port(), tmp_path / "mqtt-access"
    mqtt = {"enabled": True, "url": f"mqtt://127.0.0.1:{port}", "username": "ingest", "password": PASSWORD}
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, auth={"enabled": True}, mqtt=mqtt)
    catalog = open_catalog(settings.registry.url)
    store = AccessStore(catalog)
    store.create_tenant("acme", actor="test")
    info, token = store.create_token("acme", Role.writer, actor="test")
    cli = [sys.executable, "-m", "iotstream", "mqtt-access", str(files), "--data-dir", str(tmp_path)]
    env = {"IOTSTREAM_MQTT__USERNAME": "ingest", "IOTSTREAM_MQTT__PASSWORD": PASSWORD}
    written = subprocess.run(cli, capture_output=True, text=True, env=os.environ | env, check=False)
    assert written.returncode == 0, written.stderr
    config = tmp_path / "mosquitto.conf"
    config.write_text(mosquitto_config("127.0.0.1", port, access_files=files))
    broker = Server([mosquitto, "-c", str(config)], port, tmp_path / "mosquitto.log").start()
    assert broker.process is not None
    follower = subprocess.Popen(
        [*cli, "--follow", "--pid", str(broker.process.pid)],
        env=os.environ | env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().startswith("wrote ")  # following from now on
        with EmbeddedPlatform(settings) as platform:
            assert platform.api is not None
            site = Site(platform.api.url, port, store, {"acme": token})
            device = Device(site, token)
            try:
                assert device.refused is None
                device.publish("@acme/iotstream/pump/readings", '{"time": 1767225600000, "value": 1}')
                assert wait_for(site, "acme", "pump", 1) == [1]
                store.revoke_token(info.id, actor="test")
                deadline = time.monotonic() + 5
                while device.client.is_connected():  # mosquitto re-read its files and dropped it
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            finally:
                device.close()
            _, other = store.create_token("acme", Role.writer, actor="test")  # reaches the files too
            time.sleep(0.5)
            late = Device(site, other)
            try:
                assert late.refused is None
            finally:
                late.close()
            site.tokens["acme"] = other
            assert readings(site, "acme", "pump") == [1]
    finally:
        follower.terminate()
        follower.communicate(timeout=10)
        broker.stop()
        catalog.close()
