"""The root configuration: `iotstream.toml` (or `--config PATH`) overridden by `IOTSTREAM_*` variables.

Only the edges (the CLI and app factories) call `load_settings`; everything below receives the built,
frozen objects, so nothing deep in the code reads the environment.
"""

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from iotstream.alerts.config import NotifySettings
from iotstream.api.config import ApiSettings
from iotstream.exceptions import ConfigError
from iotstream.ingest.config import IngestSettings, MqttSettings, SourceSettings
from iotstream.ingest.lwm2m.config import Lwm2mSettings
from iotstream.ingest.modbus.config import ModbusSettings
from iotstream.log.config import LogSettings
from iotstream.processing.jobs import JobSettings
from iotstream.registry.access.config import AuthSettings
from iotstream.registry.config import RegistrySettings
from iotstream.registry.schemas.config import SchemaSettings
from iotstream.relay.config import RelaySettings, SitesSettings, check_site_name
from iotstream.storage.config import StorageSettings

__all__ = ["DEFAULT_CONFIG_FILE", "Settings", "load_settings"]

DEFAULT_CONFIG_FILE = Path("iotstream.toml")


class Settings(BaseSettings):
    """All settings; each layer owns one table (`[log]`, ...)."""

    model_config = SettingsConfigDict(
        env_prefix="IOTSTREAM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    site: str | None = Field(
        default=None,
        description="This site's name: how a central site names what this one relays, and where commands go.",
    )
    data_dir: Path = Field(
        default=Path("iotstream-data"),
        description="Where embedded mode keeps its files; relative file paths in URLs resolve against it.",
    )
    log: LogSettings = Field(
        default=LogSettings(),
        description="The `[log]` table: where the message log lives and how clients use it.",
    )
    storage: StorageSettings = Field(
        default=StorageSettings(),
        description="The `[storage]` table: the database readings and rollups are stored in, and how long "
        "each tier is kept.",
    )
    registry: RegistrySettings = Field(
        default=RegistrySettings(),
        description="The `[registry]` table: where the catalog (SensorThings entities, tenants, users, "
        "tokens, stream apps) lives.",
    )
    ingest: IngestSettings = Field(
        default=IngestSettings(),
        description="The `[ingest]` table: which readings are accepted, and how many may wait for the log.",
    )
    mqtt: MqttSettings = Field(
        default=MqttSettings(),
        description="The `[mqtt]` table: readings published to an MQTT broker, external or embedded.",
    )
    api: ApiSettings = Field(
        default=ApiSettings(),
        description="The `[api]` table: where the HTTP API and dashboard listen, and who may call them "
        "from a browser.",
    )
    auth: AuthSettings = Field(
        default=AuthSettings(),
        description="The `[auth]` table: whether every request must say who it is, and how long a login "
        "lasts.",
    )
    jobs: list[JobSettings] = Field(
        default_factory=list,
        description="The `[[jobs]]` tables: the stream jobs to run, each kind selected by its `type`; "
        "names are unique within a tenant.",
    )
    notify: NotifySettings = Field(
        default=NotifySettings(),
        description="The `[notify]` table and its `[[notify.sinks]]`: where alert notifications go.",
    )
    relay: RelaySettings = Field(
        default=RelaySettings(),
        description="The `[relay]` table: forwarding this (edge) site's log to a central site.",
    )
    sites: SitesSettings = Field(
        default=SitesSettings(),
        description="The `[sites]` table: how a central site takes what edge sites relay.",
    )
    schemas: SchemaSettings = Field(
        default=SchemaSettings(),
        description="The `[schemas]` table: the platform's own Schema Registry, or an existing one used "
        "instead.",
    )
    sources: list[SourceSettings] = Field(
        default_factory=list,
        description="The `[[sources]]` tables: log topics that gateways produce readings into directly.",
    )
    modbus: list[ModbusSettings] = Field(
        default_factory=list,
        description="The `[[modbus]]` tables: Modbus TCP devices to poll, and the registers to read.",
    )
    lwm2m: Lwm2mSettings = Field(
        default=Lwm2mSettings(),
        description="The `[lwm2m]` table: the LwM2M server's CoAP endpoint, where devices register and "
        "get their commands.",
    )

    @field_validator("site")
    @classmethod
    def _site_name(cls, site: str | None) -> str | None:
        return None if site is None else check_site_name(site)

    @model_validator(mode="after")
    def _relay_needs_a_site(self) -> "Settings":
        if self.relay.to is not None and self.site is None:
            raise ValueError('[relay] to is set but `site` is not: name this site (site = "plant-7")')
        return self

    @model_validator(mode="after")
    def _jobs_have_their_own_names(self) -> "Settings":
        names = [job.job_name for job in self.jobs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"[[jobs]] names must be unique within a tenant; more than one is named {twice}")
        return self

    def in_data_dir(self) -> "Settings":
        """These settings with relative `sqlite:///` and `duckdb:///` paths placed under `data_dir`."""
        log = self.log.model_copy(update={"url": _under(self.data_dir, self.log.url, "sqlite:///")})
        storage = self.storage.model_copy(
            update={"url": _under(self.data_dir, self.storage.url, "duckdb:///")}
        )
        registry = self.registry.model_copy(
            update={"url": _under(self.data_dir, self.registry.url, "sqlite:///")}
        )
        return self.model_copy(update={"log": log, "storage": storage, "registry": registry})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = settings_cls.model_config.get("toml_file")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the TOML file, then the environment, then `overrides` (highest).

    `config_file=None` reads `./iotstream.toml` when it exists; a path that was asked for must exist.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {str(config_file)!r} does not exist")
    path = config_file or (DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None)
    settings_cls = _settings_class(path)
    try:
        return settings_cls(**overrides).in_data_dir()
    except ValidationError as err:
        raise ConfigError(_describe(err, path)) from err
    except ValueError as err:  # TOML syntax errors surface as tomllib.TOMLDecodeError
        raise ConfigError(f"cannot read config file {str(path)!r}: {err}") from err


def _under(data_dir: Path, url: str, prefix: str) -> str:
    if not url.startswith(prefix) or url.startswith(prefix + "/"):
        return url  # another backend, or an absolute path
    return prefix + str(data_dir / url.removeprefix(prefix))


def _settings_class(path: Path | None) -> type[Settings]:
    """A subclass bound to one TOML file, so the file is chosen at the edge and not by a global."""
    config: SettingsConfigDict = {"toml_file": str(path)} if path else {}
    return type("Settings", (Settings,), {"model_config": {**Settings.model_config, **config}})


def _describe(err: ValidationError, path: Path | None) -> str:
    where = f" (from {path} or IOTSTREAM_* variables)" if path else " (from IOTSTREAM_* variables)"
    lines = [f"invalid configuration{where}:"]
    for problem in err.errors():
        field = ".".join(str(part) for part in problem["loc"])
        given = _redacted(problem.get("input"), secret=_SECRET.search(field) is not None)
        lines.append(f"  {field}: {problem['msg']} (got {given!r})")
    return "\n".join(lines)


_SECRET = re.compile(r"token|password|secret|headers", re.IGNORECASE)


def _redacted(value: Any, *, secret: bool = False) -> Any:
    """What was given, with the values of secret-looking keys hidden: errors are printed and logged."""
    if secret:
        return "**********"
    if isinstance(value, dict):
        return {key: _redacted(item, secret=bool(_SECRET.search(str(key)))) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value
