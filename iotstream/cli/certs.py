"""`iotstream certs dev DIR`: a local certificate authority and a server certificate signed by it, for
trying HTTPS and MQTT over TLS on one machine. Not for production: the CA's key lies next to it.
The certificates are made in `_certs`, which loads cryptography only when the command runs."""

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(help="Certificates for TLS.", no_args_is_help=True)


@app.command("dev")
def dev(
    folder: Annotated[Path, typer.Argument(help="Where to write ca.pem, server.pem and server.key.")],
    host: Annotated[
        list[str] | None, typer.Option("--host", help="Another name or address the server is reached at.")
    ] = None,
) -> None:
    """Create a local CA and a server certificate for localhost (and --host names)."""
    from iotstream.cli._certs import make_dev_certificates

    written = make_dev_certificates(folder, host or [])
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(
        f'[api] tls_cert = "{folder / "server.pem"}", tls_key = "{folder / "server.key"}"; clients trust'
        f" {folder / 'ca.pem'} (curl --cacert, [mqtt] tls_ca)"
    )
