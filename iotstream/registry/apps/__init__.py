"""Stream apps in the catalog: their definitions, shares and status (see `store`)."""

__all__ = ["APPS_PREFIX"]

APPS_PREFIX = "apps/"  # every app writes the datastreams apps/<name>/…
