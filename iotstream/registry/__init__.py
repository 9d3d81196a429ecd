"""The device registry: a SensorThings-shaped catalog (SQLAlchemy; SQLite embedded, PostgreSQL
distributed), its SensorThings v1.1 API, and the registry topics stream jobs join on."""

from iotstream.registry.catalog import Catalog, open_catalog

__all__ = ["Catalog", "open_catalog"]
