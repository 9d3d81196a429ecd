"""Settings of ingestion: `[ingest]` (what is accepted, how much may wait for the log) and `[mqtt]`."""

import ssl
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from iotstream._units import SizeBytes

__all__ = ["IngestSettings", "MqttSettings", "SourceSettings"]


class IngestSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_register: bool = Field(
        default=True, description="Accept readings of datastreams never seen before (and register them)."
    )
    datastreams: list[str] = Field(
        default_factory=list, description="Datastreams known from the start (besides those already stored)."
    )
    max_pending: int = Field(
        default=200_000,
        ge=1,
        description="Readings accepted but not yet acknowledged by the log; beyond it HTTP answers 503.",
    )
    max_body_bytes: SizeBytes = Field(
        default=16 * 1024**2, ge=1024, description="The largest request body any HTTP route takes (else 413)."
    )
    retry_after_s: int = Field(default=1, ge=1, description="What a 503 asks clients to wait.")


class SourceSettings(BaseModel):
    """A `[[sources]]` table: readings taken from a log topic that gateways produce into directly.

    Each record is Confluent-framed Avro (its schema in the registry) or, with `format = "json"`, a JSON
    reading payload; Avro fields are found by name or named here, and the record's key names the
    datastream when its value does not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(description="The log topic to read, e.g. the one the gateways produce into.")
    format: Literal["avro", "json"] = Field(default="avro", description="What the records hold.")
    datastream: str | None = Field(default=None, description="The Avro field naming the datastream.")
    time: str | None = Field(default=None, description="The Avro field holding the time.")
    value: str | None = Field(default=None, description="The Avro field holding the value.")
    group: str | None = Field(
        default=None, description="The consumer group (default iotstream.source.<topic>): where it resumes."
    )

    @property
    def group_id(self) -> str:
        return self.group or f"iotstream.source.{self.topic}"


class MqttSettings(BaseModel):
    """Readings published to an MQTT broker: the payload is the same JSON as `POST /api/v1/readings`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=False,
        description="Connect to the broker at `url`: take readings published there, deliver commands and "
        "(with `sensorthings`) serve that extension. `embedded` turns it on too.",
    )
    embedded: bool = Field(
        default=False,
        description="Start a broker listening at `url`: mosquitto as a child process when it is installed"
        " (on PATH or /usr/sbin/mosquitto), else amqtt inside this process (several times slower).",
    )
    url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt://host:port, or mqtts:// for TLS.")
    topic: str = Field(
        default="iotstream/+/readings",
        description="Filter to subscribe to; a `+` level names the datastream of readings without one.",
    )
    client_id: str = Field(
        default="iotstream-ingest",
        description="The MQTT session's id: one per process (with `shared_group`, give each `mqtt` process"
        " its own, stable across restarts, e.g. IOTSTREAM_MQTT__CLIENT_ID=iotstream-ingest-1).",
    )
    shared_group: str | None = Field(
        default=None,
        pattern=r"^[^/+#$]+$",
        description="Several `mqtt` processes: subscribe as members of this MQTT 5 shared subscription"
        " ($share/<group>/<topic>), so the broker hands each message to one of them.",
    )
    version: Literal[3, 5] = Field(
        default=5,
        description="MQTT protocol: 5, or 3 (3.1.1) for a broker without 5. With 5 the SensorThings"
        " extension does not hear its own notifications. The embedded amqtt fallback speaks 3.",
    )
    sensorthings: bool = Field(
        default=True,
        description="The SensorThings MQTT extension on this broker: Observations published to"
        " v1.1/Datastreams(id)/Observations are created; new entities and readings are published to"
        " their v1.1/… topics.",
    )

    username: str | None = Field(
        default=None, description="iotstream's own user at an external broker with access control."
    )
    password: SecretStr | None = Field(default=None, description="`username`'s password at that broker.")
    tls_ca: Path | None = Field(
        default=None,
        description="With mqtts://: the CA that signed the broker's certificate (default: the system's).",
    )
    tls_cert: Path | None = Field(
        default=None, description="With mqtts:// and `embedded`: the broker's certificate (PEM, chain first)."
    )
    tls_key: Path | None = Field(default=None, description="… and its private key (PEM).")

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if scheme not in ("mqtt", "mqtts") or not sep or not rest:
            raise ValueError(f"mqtt url {url!r} must look like mqtt://host:port or mqtts://host:port")
        return url

    @model_validator(mode="after")
    def _embedded_tls(self) -> Self:
        if self.embedded and self.tls and (self.tls_cert is None or self.tls_key is None):
            raise ValueError(
                "an embedded broker at an mqtts:// url needs tls_cert and tls_key"
                " (`iotstream certs dev DIR` makes a pair for trying it out)"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    def connection(self) -> dict[str, Any]:
        """How iotstream's own clients log in and encrypt (keyword arguments of `WireClient`)."""
        password = "" if self.password is None else self.password.get_secret_value()
        credentials = None if self.username is None else (self.username, password)
        return {"credentials": credentials, "tls": self.client_tls()}

    def client_tls(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=None if self.tls_ca is None else str(self.tls_ca))

    def subscription(self, topic_filter: str) -> str:
        """The filter as this process subscribes to it: shared with the group's other members, if any."""
        return f"$share/{self.shared_group}/{topic_filter}" if self.shared_group else topic_filter

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.url.partition("://")[2].rstrip("/").partition(":")
        return host or "127.0.0.1", int(port or (8883 if self.tls else 1883))
