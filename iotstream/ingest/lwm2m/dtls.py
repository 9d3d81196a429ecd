"""CoAP over DTLS with pre-shared keys (coaps://, LwM2M's PSK security mode), on aiocoap's
`tinydtls_server` transport (`[lwm2m.dtls]`).

Each endpoint's PSK identity is its endpoint name. aiocoap tells the server which key a request came
with (its `authenticated_claims`), so a registration is refused unless the endpoint registers under
the name its key belongs to, and an endpoint with a key may not register over plain CoAP.

What aiocoap 0.4.17 does and does not do, and why this module does what it does:
- The transport is marked experimental, and needs the `DTLSSocket` package (tinydtls in Cython; the
  `dtls` extra), which PyPI has only as source: pip builds it with gcc, autoconf and automake.
- It listens one port above the one it is given (5684 for 5683), and only on one address, not `::`.
- It cannot send a request of its own to a client that connected: its `recognize_remote` knows only
  plain sockets' addresses, so an observe or a command to a DTLS device fails with
  NoRequestInterface. `_answer_over_the_session` teaches it the DTLS addresses of its own sessions
  (its private names, for this aiocoap version; tests/unit/ingest/lwm2m/test_dtls.py keeps it honest).
- It never closes an idle session: each device's stays until the device ends it or the server stops.
"""

import functools
from collections.abc import Mapping
from typing import Any

import aiocoap
from aiocoap.credentials import CredentialsMap
from pydantic import SecretStr

from iotstream.exceptions import IotStreamError

__all__ = ["DtlsUnavailableError", "dtls_context", "identity_of"]

_CLAIM = ":"  # a key's entry in the credentials is ":<identity>", which is what a request's claims name


class DtlsUnavailableError(IotStreamError):
    """DTLS is configured, but the DTLSSocket package is not installed."""


def identity_of(remote: Any) -> str | None:
    """The PSK identity a request came with; None over plain CoAP."""
    if getattr(remote, "scheme", None) != "coaps":
        return None
    claims = [c for c in remote.authenticated_claims if isinstance(c, str) and c.startswith(_CLAIM)]
    return claims[0][len(_CLAIM) :] if claims else None


async def dtls_context(
    site: Any, host: str, port: int, keys: Mapping[str, SecretStr], log: str
) -> aiocoap.Context:
    """A CoAP server on `site` over DTLS at `host`:`port`, taking the endpoints' keys."""
    try:
        import DTLSSocket  # noqa: F401 - only to say what is missing
    except ImportError as err:
        raise DtlsUnavailableError(
            "[lwm2m.dtls] needs the DTLSSocket package: `make dtls`, or pip install 'iotstream[dtls]'"
            " (it builds from source with gcc, autoconf and automake)"
        ) from err
    _answer_over_the_session()
    credentials = CredentialsMap()
    credentials.load_from_dict({_CLAIM + endpoint: _entry(endpoint, key) for endpoint, key in keys.items()})
    return await aiocoap.Context.create_server_context(
        site,
        bind=(host, port - 1),  # the transport listens one above the port it is given
        transports=["tinydtls_server"],
        server_credentials=credentials,
        loggername=log,
    )


def _entry(endpoint: str, key: SecretStr) -> dict[str, Any]:
    secret = key.get_secret_value()
    psk = {"hex": secret[4:]} if secret.startswith("hex:") else {"ascii": secret}
    return {"dtls": {"psk": psk, "client-identity": {"ascii": endpoint}}}


@functools.cache
def _answer_over_the_session() -> None:
    """Lets the DTLS server send requests of its own (observe, commands) to a client in a session
    with it, once per process."""
    from aiocoap.transports import tinydtls_server

    server = tinydtls_server.MessageInterfaceTinyDTLSServer
    plain = server.recognize_remote

    async def recognize_remote(self: Any, remote: Any) -> bool:
        if isinstance(remote, tinydtls_server._AddressDTLS):  # private: see the module's docstring
            return remote._protocol is self._pool
        return bool(await plain(self, remote))

    server.recognize_remote = recognize_remote
