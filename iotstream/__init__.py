"""iotstream: an open IoT live-streaming platform.

Devices send readings; a durable log carries them; event-time stream jobs turn them into aggregates and
alerts; a time-series store keeps them; people watch and query them live.
"""

from iotstream.exceptions import ConfigError, IotStreamError

__all__ = ["ConfigError", "IotStreamError", "__version__"]

__version__ = "0.1.0"
