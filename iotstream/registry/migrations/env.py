"""Alembic runs this: migrations use the connection `open_catalog` hands over (never a config file)."""

from alembic import context

from iotstream.registry.access import models as _access_tables  # noqa: F401 - their tables join Base
from iotstream.registry.apps import models as _app_tables  # noqa: F401 - theirs too
from iotstream.registry.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
