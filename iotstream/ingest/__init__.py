"""Ingestion: readings from devices (HTTP, MQTT, ...) validated, stamped and given message ids."""
