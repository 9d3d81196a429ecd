"""TLS/SASL and any other librdkafka setting come from configuration, never from code changes."""

from pathlib import Path

import pytest

from iotstream.config import load_settings
from iotstream.exceptions import ConfigError
from iotstream.log.kafka._client import Availability, client_config

TOML = """
[log]
url = "kafka://b1:9093,b2:9093"
request_timeout_ms = "3s"

[log.kafka]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "iot"
"sasl.password" = "s3cret"
"ssl.ca.location" = "/etc/ssl/ca.pem"
"client.id" = "edge-7"
"""


def test_kafka_table_reaches_every_client_and_wins_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "iotstream.toml"
    path.write_text(TOML)
    settings = load_settings(path)
    config = client_config(settings.log, Availability("b1:9093"))
    assert config["bootstrap.servers"] == "b1:9093,b2:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512",
        "iot",
        "s3cret",
    )
    assert config["client.id"] == "edge-7"  # the user's value replaces ours
    assert config["socket.connection.setup.timeout.ms"] == 3_000
    assert "s3cret" not in repr(settings), "secrets must not appear in logged settings"


@pytest.mark.parametrize("url", ["kafka://", "kafka://nohost", "kafka://h:port", "kafka://h:9092,"])
def test_a_malformed_kafka_url_is_rejected(url: str, tmp_path: Path) -> None:
    path = tmp_path / "iotstream.toml"
    path.write_text(f'[log]\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match="must list brokers as kafka://host:port"):
        load_settings(path)
