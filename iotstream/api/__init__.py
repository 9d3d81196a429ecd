"""The HTTP API role: ingestion and queries over REST (`iotstream.api.app.create_app`).

Nothing is imported here, so `iotstream.config` can read `iotstream.api.config` without loading FastAPI.
"""
