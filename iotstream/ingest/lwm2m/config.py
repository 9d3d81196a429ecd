"""`[lwm2m]`: the LwM2M server's CoAP endpoint, where devices register and get their commands."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from iotstream._units import DurationMs

__all__ = ["REGISTRATIONS", "Lwm2mDtlsSettings", "Lwm2mSettings"]

REGISTRATIONS = "lwm2m.registrations"  # the topic of registration records, keyed by endpoint name


class Lwm2mDtlsSettings(BaseModel):
    """`[lwm2m.dtls]`: CoAP over DTLS with pre-shared keys (coaps://), beside plain CoAP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(
        default="127.0.0.1",
        description="The address to listen on: one address, as aiocoap's DTLS server cannot listen on"
        " every one (:: or 0.0.0.0).",
    )
    port: int = Field(default=5684, ge=1, le=65_535, description="The UDP port for DTLS (5684 is CoAPS').")
    keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Each endpoint\'s pre-shared key, its PSK identity being its endpoint name: {"boiler-7"'
        ' = "secret"}; "hex:00ff.." for a key in bytes. An endpoint with a key registers over DTLS only.',
    )

    @field_validator("host")
    @classmethod
    def _one_address(cls, host: str) -> str:
        if host in ("", "::", "0.0.0.0"):  # noqa: S104 - refused, not bound
            raise ValueError(f"DTLS listens on one address, not on every one ({host!r}): e.g. 192.0.2.10")
        return host


class Lwm2mSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="Run the LwM2M server (the `lwm2m` role).")
    host: str = Field(default="::", description="The address to listen on (:: is every IPv6 and IPv4 one).")
    port: int = Field(default=5683, ge=0, le=65_535, description="The UDP port for CoAP (5683 is CoAP's).")
    grace: DurationMs = Field(
        default=30_000,
        ge=0,
        description="How long past its lifetime a registration is kept, for the network.",
    )
    queue_awake: DurationMs = Field(
        default=93_000,
        gt=0,
        description="How long a device in queue mode listens after its Register or Update, when its"
        " waiting commands are sent (LwM2M's default: CoAP's MAX_TRANSMIT_WAIT, 93 s).",
    )
    dtls: Lwm2mDtlsSettings | None = Field(
        default=None, description="CoAP over DTLS with pre-shared keys (`[lwm2m.dtls]`); none: plain CoAP."
    )
    observe_default: list[int] = Field(
        default=[5700],
        description="Resources observed in every instance of an object `observe` does not name, where"
        " the object registry knows them (5700: an IPSO sensor's value).",
    )
    observe: dict[int, list[int]] = Field(
        default_factory=dict,
        description='Resources observed per object id instead, known or not: {"3303" = [5700, 5601],'
        ' "3" = [9]}; an empty list observes nothing of that object.',
    )
