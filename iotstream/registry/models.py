"""The catalog's tables: the SensorThings entities except Observations, which live in the time-series
store (a reading is an Observation; only its optional SensorThings extras are kept here).

Ids are integers from each table's own sequence. A Datastream's `name` is free text and may repeat,
as SensorThings allows; its `key` is unique and never changes: readings travel and are stored under
it everywhere else in iotstream, so a rename keeps a Datastream's history, job results and alerts.

Every entity belongs to a tenant (`tenant`), and links never cross tenants, so whatever is reached
from a tenant's entity is the tenant's too.
"""

from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Datastream",
    "DeviceCommand",
    "FeatureOfInterest",
    "HistoricalLocation",
    "Location",
    "MultiDatastream",
    "ObservationExtras",
    "ObservedProperty",
    "Sensor",
    "Stream",
    "Thing",
    "multi_datastream_observed_properties",
]

# JSONB on PostgreSQL, so $filter can compare JSON values there.
JSON_VALUE = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def tenant_column() -> Mapped[str]:
    """The tenant an entity belongs to: every SensorThings query and link stays within one."""
    return mapped_column(String(63), default="default", server_default="default", index=True)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON_VALUE, Any: JSON_VALUE}


thing_locations = Table(
    "thing_locations",
    Base.metadata,
    Column("thing_id", ForeignKey("things.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True),
)

historical_location_locations = Table(
    "historical_location_locations",
    Base.metadata,
    Column(
        "historical_location_id", ForeignKey("historical_locations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Thing(Base):
    __tablename__ = "things"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None]

    locations: Mapped[list["Location"]] = relationship(secondary=thing_locations, back_populates="things")
    historical_locations: Mapped[list["HistoricalLocation"]] = relationship(
        back_populates="thing", cascade="all, delete-orphan", passive_deletes=True
    )
    datastreams: Mapped[list["Datastream"]] = relationship(back_populates="thing")
    multi_datastreams: Mapped[list["MultiDatastream"]] = relationship(back_populates="thing")


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(255))
    location: Mapped[Any]
    properties: Mapped[dict[str, Any] | None]

    things: Mapped[list[Thing]] = relationship(secondary=thing_locations, back_populates="locations")
    historical_locations: Mapped[list["HistoricalLocation"]] = relationship(
        secondary=historical_location_locations, back_populates="locations"
    )


class HistoricalLocation(Base):
    __tablename__ = "historical_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    time_ms: Mapped[int] = mapped_column(BigInteger)
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id", ondelete="CASCADE"), index=True)

    thing: Mapped[Thing] = relationship(back_populates="historical_locations")
    locations: Mapped[list[Location]] = relationship(
        secondary=historical_location_locations, back_populates="historical_locations"
    )


class Sensor(Base):
    __tablename__ = "sensors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(255))
    sensor_metadata: Mapped[Any] = mapped_column("metadata", JSON_VALUE)
    properties: Mapped[dict[str, Any] | None]

    datastreams: Mapped[list["Datastream"]] = relationship(back_populates="sensor")
    multi_datastreams: Mapped[list["MultiDatastream"]] = relationship(back_populates="sensor")


class ObservedProperty(Base):
    __tablename__ = "observed_properties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    definition: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None]

    datastreams: Mapped[list["Datastream"]] = relationship(back_populates="observed_property")
    multi_datastreams: Mapped[list["MultiDatastream"]] = relationship(
        secondary="multi_datastream_observed_properties", viewonly=True
    )


class Stream(Base):
    """What Datastreams and MultiDatastreams share, in one table (single-table inheritance): one id
    sequence and one key space, so readings, Observation ids ("<id>-<epoch ms>") and their extras
    are keyed alike for both, and a query of one kind sees only its own rows."""

    __tablename__ = "datastreams"
    __mapper_args__ = {"polymorphic_on": "kind"}  # noqa: RUF012 - SQLAlchemy's declaration
    __table_args__ = (  # startswith(name, …) from an index on PostgreSQL (migration 0005)
        Index("ix_datastreams_name_pattern", "name", postgresql_ops={"name": "varchar_pattern_ops"}).ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="single")
    tenant: Mapped[str] = tenant_column()
    key: Mapped[str] = mapped_column(String(255), unique=True, index=True)  # registry/keys.py
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    observation_type: Mapped[str] = mapped_column(Text)
    observed_area: Mapped[Any | None]
    properties: Mapped[dict[str, Any] | None]
    placeholder: Mapped[bool] = mapped_column(default=False)  # registered by ingestion, to be completed
    # The span of its readings' phenomenon and result times, kept by registry/spans.py.
    phenomenon_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    phenomenon_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    result_start_ms: Mapped[int | None] = mapped_column(BigInteger)
    result_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    thing_id: Mapped[int] = mapped_column(ForeignKey("things.id"), index=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"), index=True)
    if TYPE_CHECKING:  # each kind maps these itself: the Thing lists its Datastreams apart
        thing: Mapped[Thing]
        sensor: Mapped[Sensor]


class Datastream(Stream):
    __mapper_args__ = {"polymorphic_identity": "single"}  # noqa: RUF012

    unit_of_measurement: Mapped[dict[str, Any] | None] = mapped_column(use_existing_column=True)
    observed_property_id: Mapped[int] = mapped_column(
        ForeignKey("observed_properties.id"), index=True, nullable=True, use_existing_column=True
    )

    thing: Mapped[Thing] = relationship(back_populates="datastreams")
    sensor: Mapped[Sensor] = relationship(back_populates="datastreams")
    observed_property: Mapped[ObservedProperty] = relationship(back_populates="datastreams")


multi_datastream_observed_properties = Table(
    "multi_datastream_observed_properties",
    Base.metadata,
    Column("multi_datastream_id", ForeignKey("datastreams.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),  # the place of its value in every result array
    Column("observed_property_id", ForeignKey("observed_properties.id"), nullable=False, index=True),
)


class MultiDatastream(Stream):
    """SensorThings' MultiDatastream extension: readings whose result is an array, one value per
    ObservedProperty, in their order (which may repeat one)."""

    __mapper_args__ = {"polymorphic_identity": "multi"}  # noqa: RUF012

    unit_of_measurements: Mapped[Any | None] = mapped_column(use_existing_column=True)
    multi_observation_data_types: Mapped[Any | None] = mapped_column(use_existing_column=True)

    thing: Mapped[Thing] = relationship(back_populates="multi_datastreams")
    sensor: Mapped[Sensor] = relationship(back_populates="multi_datastreams")
    observed_properties: Mapped[list[ObservedProperty]] = relationship(
        secondary=multi_datastream_observed_properties,
        order_by=multi_datastream_observed_properties.c.position,
        viewonly=True,
    )


class FeatureOfInterest(Base):
    __tablename__ = "features_of_interest"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(255))
    feature: Mapped[Any]
    properties: Mapped[dict[str, Any] | None]
    location_id: Mapped[int | None] = mapped_column(  # the Location it was made from, if any
        ForeignKey("locations.id", ondelete="SET NULL"), index=True
    )
    location: Mapped["Location | None"] = relationship()  # sets location_id when both are flushed


class ObservationExtras(Base):
    """What a SensorThings Observation carries beyond a reading, keyed like the reading itself."""

    __tablename__ = "observation_extras"

    datastream_id: Mapped[int] = mapped_column(ForeignKey("datastreams.id"), primary_key=True)
    phenomenon_time_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phenomenon_end_ms: Mapped[int | None] = mapped_column(BigInteger)  # an interval's end
    valid_time: Mapped[str | None] = mapped_column(Text)
    result_quality: Mapped[Any | None]
    parameters: Mapped[dict[str, Any] | None]
    feature_of_interest_id: Mapped[int | None] = mapped_column(
        ForeignKey("features_of_interest.id"), index=True
    )


class DeviceCommand(Base):
    """A command to a device, and where its ticket stands; kept by `iotstream.relay.commands`."""

    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_state_expires_ms", "state", "expires_ms"),  # the deliverer's and the sweep's
        Index("ix_commands_created_ms", "created_ms"),  # listing, newest first
    )

    ticket: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str | None] = mapped_column(String(255), index=True)  # None: a device of this platform
    device: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    value: Mapped[Any | None]  # what a write or execute carries
    timeout_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    result: Mapped[Any | None]  # the device's answer
    error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    relayed: Mapped[bool] = mapped_column(default=False)  # created with a given ticket, from another site
    reported: Mapped[str | None] = mapped_column(String(16))  # the last state reported to that site
    transport: Mapped[str | None] = mapped_column(String(16))  # "mqtt", "lwm2m"; None: the site decides
