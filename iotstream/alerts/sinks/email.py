"""E-mail sink: one plain-text message per notification over SMTP (optionally STARTTLS and login)."""

import smtplib
from email.message import EmailMessage

from iotstream.alerts.config import EmailSettings
from iotstream.alerts.message import DEFAULT_SUBJECT, render
from iotstream.alerts.sinks.base import BaseSink, DeliveryError, Notice

__all__ = ["EmailSink"]


class EmailSink(BaseSink):
    """A connection per message: notifications are rare, and a long-lived SMTP session times out."""

    def __init__(self, settings: EmailSettings) -> None:
        self.name = settings.name or settings.type
        self._settings = settings

    def send(self, notice: Notice) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"], message["To"] = settings.sender, ", ".join(settings.to)
        message["Subject"] = render(settings.subject, notice.fields, DEFAULT_SUBJECT)
        message.set_content(notice.text)
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout / 1000) as smtp:
                if settings.starttls:
                    smtp.starttls()
                if settings.username:
                    password = settings.password.get_secret_value() if settings.password else ""
                    smtp.login(settings.username, password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            raise DeliveryError(f"every recipient refused: {err.recipients}", permanent=True) from err
        except smtplib.SMTPResponseException as err:  # 4xx: try again later; 5xx: it will not work
            reason = f"SMTP {err.smtp_code}: {err.smtp_error!r}"
            raise DeliveryError(reason, permanent=err.smtp_code >= 500) from err
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from err
