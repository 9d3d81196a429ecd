"""`iotstream mqtt-access DIR`: mosquitto's password and ACL files for an external broker (distributed
mode), written from the catalog as the embedded broker's are, and kept current with `--follow`."""

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from iotstream.cli._context import state
from iotstream.cli._platform import Config, DataDir, platform_overrides
from iotstream.exceptions import ConfigError

__all__ = ["mqtt_access"]


def mqtt_access(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Where to write `passwords` and `acl`.")],
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep them current until stopped (Ctrl-C or SIGTERM).")
    ] = False,
    pid: Annotated[
        int | None, typer.Option("--pid", help="mosquitto's process, told (SIGHUP) to re-read them.")
    ] = None,
    config: Config = None,
    data_dir: DataDir = None,
) -> None:
    """Write mosquitto's password and ACL files: each API token may log in (user name: its id) to its
    tenant's topics; iotstream's own clients as [mqtt] username and password. Point mosquitto's
    password_file and acl_file at them."""
    from iotstream.ingest.mqtt_access import MqttAccess  # the database layer loads for this command only
    from iotstream.ingest.mqtt_broker import AccessFiles
    from iotstream.registry.access.accounts import BrokerAccounts
    from iotstream.registry.catalog import open_catalog

    settings = state(ctx).reload(config, **platform_overrides(data_dir, None, None))
    mqtt = settings.mqtt
    if mqtt.username is None or mqtt.password is None:
        raise ConfigError("[mqtt] username and password are iotstream's own user at the broker: set both")
    catalog = open_catalog(settings.registry.url)
    folder.mkdir(parents=True, exist_ok=True)
    internal = (mqtt.username, mqtt.password.get_secret_value())
    access = MqttAccess(BrokerAccounts(catalog), None, mqtt.topic, internal)
    files = AccessFiles(access, folder)
    try:
        files.write()
        if pid is not None:  # what it holds may be older than what was just written
            os.kill(pid, signal.SIGHUP)
        typer.echo(f"wrote {folder / 'passwords'} and {folder / 'acl'}")
        if follow:
            stopped = threading.Event()
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, lambda _signum, _frame: stopped.set())
            files.follow(pid)
            stopped.wait()
    finally:
        files.stop()
        catalog.close()
