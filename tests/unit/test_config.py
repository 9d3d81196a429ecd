from pathlib import Path

import pytest

from iotstream.config import load_settings
from iotstream.exceptions import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "iotstream.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().log.url == "sqlite:///iotstream-data/log.db"
    assert load_settings(data_dir="/srv/iot").storage.url == "duckdb:////srv/iot/store.duckdb"


def test_the_toml_file_is_read_and_the_environment_overrides_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, '[log]\nurl = "sqlite:////var/lib/iot/log.db"\nlinger_ms = "5ms"\nfsync = false\n'
    )
    monkeypatch.setenv("IOTSTREAM_LOG__LINGER_MS", "7")
    settings = load_settings(path)
    assert (settings.log.url, settings.log.linger_ms, settings.log.fsync) == (
        "sqlite:////var/lib/iot/log.db",
        7,
        False,
    )


def test_explicit_overrides_merge_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[log]\nlinger_ms = 9\n")
    settings = load_settings(path, log={"url": "sqlite:////tmp/other.db"})
    assert (settings.log.url, settings.log.linger_ms) == ("sqlite:////tmp/other.db", 9)


def test_iotstream_toml_in_the_working_directory_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write(tmp_path, "[log]\ndefault_partitions = 8\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().log.default_partitions == 8


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[log]\nurl = "postgres://x"\n', r"log\.url: .*unsupported log url 'postgres://x'"),
        ('[log]\nurl = "sqlite://relative.db"\n', "needs three slashes"),
        ("[log]\nlinger_ms = -1\n", r"log\.linger_ms: .*greater than or equal to 0"),
        ('[log]\nlinger_ms = "soon"\n', "'soon' is not a duration"),
        ("[log]\nlinger_ms = inf\n", r"log\.linger_ms: .*inf is not a finite duration"),
        ("[storage]\nduckdb_memory_bytes = 1e400\n", r"storage\.duckdb_memory_bytes: .*inf is not a size"),
        ("[log]\nurll = 1\n", r"log\.urll: Extra inputs are not permitted"),
        ("[log\n", "cannot read config file"),
    ],
)
def test_a_bad_value_names_the_setting_and_the_problem(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, toml))


def test_a_config_file_that_was_asked_for_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_a_bad_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IOTSTREAM_LOG__FSYNC", "maybe")
    with pytest.raises(
        ConfigError, match=r"(?s)IOTSTREAM_\* variables.*log\.fsync: Input should be a valid boolean"
    ):
        load_settings()


@pytest.mark.parametrize(
    ("log", "partitions"),
    [
        ("[log]\n", 1),
        ('[log]\nurl = "kafka://broker:9092"\n', 4),
        ('[log]\nurl = "kafka://broker:9092"\ndefault_partitions = 2\n', 2),
    ],
)
def test_kafka_topics_get_several_partitions_unless_told(tmp_path: Path, log: str, partitions: int) -> None:
    """The distributed mode's `jobs` and `sink` processes share a topic by its partitions."""
    assert load_settings(_write(tmp_path, log)).log.default_partitions == partitions


def test_secrets_never_appear_in_the_settings_repr() -> None:
    secret = "s3cr3t-value-xyz"  # noqa: S105 - the value looked for
    settings = load_settings(
        None,
        site="edge-1",
        relay={"to": "http://central:8000", "token": secret},
        sites={"token": secret},
        auth={"enabled": True, "scrape_token": secret},
        mqtt={"username": "iotstream", "password": secret},
        notify={
            "sinks": [
                {
                    "type": "email",
                    "host": "smtp",
                    "username": "u",
                    "password": secret,
                    "sender": "a@b",
                    "to": ["c@d"],
                },
                {"type": "telegram", "token": secret, "chat_id": "1"},
                {"type": "webhook", "url": "http://hook", "headers": {"Authorization": secret}},
            ]
        },
    )
    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert settings.relay.token is not None
    assert settings.relay.token.get_secret_value() == secret


def test_a_configuration_error_does_not_print_the_secrets_given() -> None:
    secret = "s3cr3t-value-xyz"  # noqa: S105 - the value looked for
    relay = {"to": "http://central:8000", "token": secret}
    with pytest.raises(ConfigError) as refused:
        load_settings(None, relay=relay, auth={"scrape_token": secret})
    assert "`site` is not" in str(refused.value)
    assert secret not in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        load_settings(None, notify={"sinks": [{"type": "telegram", "token": secret}]})
    assert "chat_id" in str(refused.value)
    assert secret not in str(refused.value)
