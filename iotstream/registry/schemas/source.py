"""Where Avro schemas are registered and looked up: the platform's registry, or one at `[schemas] url`.

Both answer the log's `SchemaSource`, so the Avro log and the Avro readings work the same with either.
A registry that cannot be reached is a `LogError`, never an unknown schema: readings are then refused
for a retry (HTTP 503, MQTT redelivery) instead of being dead-lettered.
"""

import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from iotstream.log.avro import SchemaRefusedError, SchemaSource
from iotstream.log.base import BaseLog
from iotstream.log.exceptions import LogUnavailableError
from iotstream.registry.schemas.config import SchemaSettings
from iotstream.registry.schemas.store import SchemaRegistry, SchemaRegistryError

__all__ = ["LocalSchemas", "RemoteSchemas", "open_schemas"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class LocalSchemas(SchemaSource):
    """The platform's own registry, in the log's `_schemas` topic."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def register(self, subject: str, schema: str) -> int:
        try:
            return self.registry.register(subject, schema)
        except SchemaRegistryError as err:
            raise SchemaRefusedError(f"subject {subject!r}: {err} (error code {err.code})") from None

    def schema(self, schema_id: int) -> str:
        try:
            return self.registry.by_id(schema_id).schema
        except SchemaRegistryError:
            raise LookupError(schema_id) from None


class RemoteSchemas(SchemaSource):
    """An existing registry over Confluent's REST API; schemas by id are immutable, so kept once read."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        auth = None
        if parts.username:  # Confluent's basic authentication, given in the URL
            auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
            url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self.url = url
        self._known: dict[int, str] = {}
        self._client = httpx.Client(
            base_url=url, auth=auth, timeout=timeout_s, headers={"Accept": _CONTENT_TYPE}
        )

    def register(self, subject: str, schema: str) -> int:
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        answer = self._request("POST", path, json={"schema": schema})
        if answer.status_code != 200:
            raise SchemaRefusedError(
                f"subject {subject!r}: the registry at {self.url} answered {_error(answer)}"
            )
        return int(answer.json()["id"])

    def schema(self, schema_id: int) -> str:
        if (known := self._known.get(schema_id)) is not None:
            return known
        answer = self._request("GET", f"/schemas/ids/{schema_id}")
        if answer.status_code == 404 and _code(answer) == 40403:  # not another path's 404: a wrong url
            raise LookupError(schema_id)
        if answer.status_code != 200:
            raise LogUnavailableError(f"the registry at {self.url} answered {_error(answer)}")
        text = self._known[schema_id] = str(answer.json()["schema"])
        return text

    def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self._client.request(method, path, headers={"Content-Type": _CONTENT_TYPE}, json=json)
        except httpx.HTTPError as err:
            raise LogUnavailableError(f"the schema registry at {self.url} cannot be reached: {err}") from err

    def close(self) -> None:
        self._client.close()


def _code(answer: httpx.Response) -> int | None:
    try:
        code = answer.json().get("error_code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        return f"{answer.status_code} ({body.get('error_code')}: {body.get('message')})"
    except ValueError:
        return f"{answer.status_code}: {answer.text[:200]}"


def open_schemas(settings: SchemaSettings, log: BaseLog) -> tuple[SchemaSource, Callable[[], None]]:
    """The registry `settings` name (else the one in `log`), and how to close it."""
    if settings.url is not None:
        remote = RemoteSchemas(settings.url, settings.timeout_s)
        return remote, remote.close
    registry = SchemaRegistry(log)
    return LocalSchemas(registry), registry.close
