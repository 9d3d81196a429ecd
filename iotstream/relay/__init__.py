"""Sites: the relay from an edge site's log to the central site's, and device commands with tickets
(`relay.commands` keeps them, `relay.delivery` sends them to this platform's own devices over MQTT)."""
