"""Telegram sink: the Bot API's `sendMessage` (https://core.telegram.org/bots/api#sendmessage)."""

import httpx

from iotstream.alerts.config import TelegramSettings
from iotstream.alerts.sinks.base import BaseSink, DeliveryError, Notice, http_failure

__all__ = ["TelegramSink"]


class TelegramSink(BaseSink):
    def __init__(self, settings: TelegramSettings) -> None:
        self.name = settings.name or settings.type
        self._url = f"{settings.base_url.rstrip('/')}/bot{settings.token.get_secret_value()}/sendMessage"
        self._chat_id = settings.chat_id
        self._client = httpx.Client(timeout=settings.timeout / 1000)

    def send(self, notice: Notice) -> None:
        try:
            response = self._client.post(self._url, json={"chat_id": self._chat_id, "text": notice.text})
        except httpx.HTTPError as err:  # the token is in the URL: keep it out of the reason
            raise DeliveryError(f"{type(err).__name__} reaching the Telegram Bot API") from None
        if not response.is_success:
            raise http_failure(response.status_code, response.text)
        if not _ok(response):
            raise DeliveryError(f"the Bot API answered without ok: {response.text[:200]}", permanent=True)

    def close(self) -> None:
        self._client.close()


def _ok(response: httpx.Response) -> bool:
    try:
        return bool(response.json().get("ok"))
    except (ValueError, AttributeError):
        return False
