"""`[lwm2m]`: the LwM2M server's CoAP endpoint, where devices register and get their commands."""

from pydantic import BaseModel, ConfigDict, Field

from iotstream._units import DurationMs

__all__ = ["REGISTRATIONS", "Lwm2mSettings"]

REGISTRATIONS = "lwm2m.registrations"  # the topic of registration records, keyed by endpoint name


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
