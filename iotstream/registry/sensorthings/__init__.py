"""The OGC SensorThings API v1.1 over the catalog and the time-series store."""
