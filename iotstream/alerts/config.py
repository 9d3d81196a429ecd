"""Settings of the notification service: `[notify]` and one `[[notify.sinks]]` table per destination.

```toml
[notify]
events = ["open", "close"]        # add "update" to hear about every reading of an open episode
give_up_after = "1d"              # a sink that stays down this long: the message is dead-lettered

[[notify.sinks]]
type = "webhook"                  # or "email", "telegram", "log"
url = "https://hooks.example.com/iot"
```
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from iotstream._units import DurationMs
from iotstream.alerts.message import DEFAULT_SUBJECT, DEFAULT_TEMPLATE, check_template
from iotstream.registry.access.principal import DEFAULT_TENANT, check_name

__all__ = [
    "EmailSettings",
    "LogSinkSettings",
    "NotifySettings",
    "SinkSettings",
    "TelegramSettings",
    "WebhookSettings",
]

_NAME = r"^[A-Za-z0-9_.-]+$"


class _Sink(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", pattern=r"^$|" + _NAME, description="Unique; defaults to the type.")
    timeout: DurationMs = Field(default=10_000, gt=0, description="One delivery attempt at most.")
    tenant: str = Field(
        default=DEFAULT_TENANT, description="Whose alerts it delivers: a sink hears of its tenant's only."
    )

    _tenant = field_validator("tenant")(lambda cls, name: check_name("tenant", name))


class WebhookSettings(_Sink):
    """POSTs `{"text": message, "alert": episode, "thing": ..., "location": ..., "unit": ...}`."""

    type: Literal["webhook"] = Field(description='"webhook": this sink POSTs each notification as JSON.')
    url: str = Field(pattern=r"^https?://", description="Where the notifications are POSTed (http[s]://).")
    headers: dict[str, str] = Field(
        default_factory=dict,
        repr=False,  # may carry credentials
        description="HTTP headers sent with every POST, such as Authorization; hidden in config errors.",
    )


class EmailSettings(_Sink):
    type: Literal["email"] = Field(description='"email": this sink sends each notification over SMTP.')
    host: str = Field(description="The SMTP server's host name or address.")
    port: int = Field(
        default=25, gt=0, lt=65536, description="The SMTP server's port; implicit TLS (465) is not supported."
    )
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS before login.")
    username: str | None = Field(
        default=None, description="Log in as this user (with `password`); none: send without logging in."
    )
    password: SecretStr | None = Field(default=None, description="`username`'s password.")
    sender: str = Field(pattern=r"@", description="The From address.")
    to: list[str] = Field(
        min_length=1, description="The recipients' addresses: each notification is one message to all."
    )
    subject: str = Field(
        default=DEFAULT_SUBJECT,
        description="The subject: a str.format template over the same fields as `[notify] template`.",
    )

    _subject = field_validator("subject")(lambda cls, text: check_template(text))


class TelegramSettings(_Sink):
    """The Bot API's sendMessage; `base_url` points elsewhere for a local Bot API server (or a test)."""

    type: Literal["telegram"] = Field(description='"telegram": this sink sends each notification to a chat.')
    token: SecretStr = Field(min_length=1, description="The bot's token; it is part of every request's URL.")
    chat_id: str = Field(min_length=1, description="The chat the bot sends to (sendMessage's chat_id).")
    base_url: str = Field(
        default="https://api.telegram.org",
        pattern=r"^https?://",
        description="The Bot API's address; another for a local Bot API server (or a test).",
    )


class LogSinkSettings(_Sink):
    """Writes each message to the `iotstream.notify` logger (at WARNING for open, INFO otherwise)."""

    type: Literal["log"] = Field(
        description='"log": this sink writes each notification to the `iotstream.notify` logger.'
    )


SinkSettings = Annotated[
    WebhookSettings | EmailSettings | TelegramSettings | LogSinkSettings, Field(discriminator="type")
]


class NotifySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sinks: list[SinkSettings] = Field(
        default_factory=list,
        description="The `[[notify.sinks]]` tables: destinations, each of a `type` and with a distinct name;"
        " each has its own consumer group and retries on its own.",
    )
    events: list[Literal["open", "update", "close"]] = Field(
        default=["open", "close"],
        min_length=1,
        description='Alert events notified: "open" (an episode starts), "update" (each further reading of '
        'an open one), "close" (it ends).',
    )
    template: str = Field(default=DEFAULT_TEMPLATE, description="str.format fields: see alerts/message.py")
    retry_initial: DurationMs = Field(
        default=1_000,
        gt=0,
        description="A failing sink's first wait before retrying; it doubles with each failure up to "
        "`retry_max`, and starts over once deliveries succeed.",
    )
    retry_max: DurationMs = Field(
        default=300_000, gt=0, description="A failing sink's longest wait between retries."
    )
    give_up_after: DurationMs = Field(
        default=86_400_000,
        gt=0,
        description="An event a sink still cannot deliver this long after the first attempt goes to the "
        "dead-letter topic, and the sink moves on.",
    )

    _template = field_validator("template")(lambda cls, text: check_template(text))

    @model_validator(mode="after")
    def _unique_names(self) -> "NotifySettings":
        names = [sink.name or sink.type for sink in self.sinks]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"notify sinks need distinct names; give each a `name` (repeated: {duplicated})")
        return self
