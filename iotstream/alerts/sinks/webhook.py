"""Webhook sink: one JSON POST per notification."""

import httpx

from iotstream.alerts.config import WebhookSettings
from iotstream.alerts.sinks.base import BaseSink, DeliveryError, Notice, http_failure

__all__ = ["WebhookSink"]


class WebhookSink(BaseSink):
    def __init__(self, settings: WebhookSettings) -> None:
        self.name = settings.name or settings.type
        self._url = settings.url
        self._client = httpx.Client(headers=settings.headers, timeout=settings.timeout / 1000)

    def send(self, notice: Notice) -> None:
        fields = notice.fields
        body = {"id": notice.id, "text": notice.text, "alert": notice.alert}
        body |= {"thing": fields["thing"], "location": fields["location"], "unit": fields["unit"]}
        try:
            response = self._client.post(self._url, json=body)
        except httpx.HTTPError as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from err
        if not response.is_success:
            raise http_failure(response.status_code, response.text)

    def close(self) -> None:
        self._client.close()
