"""Everything in one process (`iotstream up`): log, store, catalog and every role on them.

The roles are in `iotstream.roles`; this is the composition of all of them, as `iotstream run` composes a
subset.
"""

from iotstream.config import Settings
from iotstream.roles import ROLE_NAMES, Platform

__all__ = ["EmbeddedPlatform"]


class EmbeddedPlatform(Platform):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, ROLE_NAMES)
