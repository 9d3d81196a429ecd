"""`[lwm2m]`: the LwM2M server's CoAP endpoint, where devices register."""

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
