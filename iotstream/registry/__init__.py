"""The device registry: a SensorThings-shaped catalog (SQLAlchemy; SQLite embedded, PostgreSQL
distributed), its SensorThings v1.1 API, and the registry topics stream jobs join on.

Nothing is imported here: the configuration imports `registry.config`, and every CLI command loads
the configuration, so SQLAlchemy and Alembic load only where a catalog is opened."""
