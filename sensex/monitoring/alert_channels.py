"""Where alerts go, and how each channel is configured: a webhook (JSON POST), e-mail (SMTP), SMS
through a Twilio-style HTTP API, and a Telegram bot. Every sender raises `AlertDeliveryError`
with one sentence, never another error, and never puts a secret in it.

Secrets never live in the alerts file: the SMTP password is `SENSEX_SMTP_PASSWORD`, a webhook
bearer token `SENSEX_WEBHOOK_TOKEN`, the SMS API's auth token `SENSEX_SMS_TOKEN`, the Telegram
bot's token `SENSEX_TELEGRAM_TOKEN` (it is part of the bot API's URL, so it is never logged).
"""

from __future__ import annotations

import hashlib
import json
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sensex.core.errors import AlertDeliveryError
from sensex.core.redaction import redact_url, url_secrets

SMTP_PASSWORD_ENV = "SENSEX_SMTP_PASSWORD"
WEBHOOK_TOKEN_ENV = "SENSEX_WEBHOOK_TOKEN"
WEBHOOK_URL_ENV = "SENSEX_WEBHOOK_URL"  # a webhook URL that is itself a secret (Slack, Discord, Telegram)
SMS_TOKEN_ENV = "SENSEX_SMS_TOKEN"
TELEGRAM_TOKEN_ENV = "SENSEX_TELEGRAM_TOKEN"
MAX_URL_CHARS = 2048
# An SMS is read on a phone: two segments at most (Twilio splits longer bodies and bills each part).
SMS_MAX_CHARS = 320
TELEGRAM_MAX_CHARS = 4096  # the bot API's limit for one message
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164, as SMS APIs want it
_ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")  # a numeric chat id or a @channel name
_BOT_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def webhook_url_problem(url: object, in_file: bool = True) -> str | None:
    """Why `url` cannot be called, in words that never quote it; None when it can.
    A URL from the file may carry no secret; one from SENSEX_WEBHOOK_URL may (it stays out of files)."""
    if not isinstance(url, str) or not url:
        return "must be an http:// or https:// URL with a host"
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a URL (a bracket of an IPv6 address is not closed?)"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an http:// or https:// URL with a host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.rsplit("]", 1)[-1].endswith(":")):
        return "has a port that is not a number from 1 to 65535"
    if not all(c.isalnum() and c.isascii() or c in "-._:[]" for c in host):
        return "has a host name that is not letters, digits, dots and dashes"
    if "@" in parts.netloc:
        return (f"must not carry user info (it would replace the bearer token with Basic auth): put a token in"
                f" {WEBHOOK_TOKEN_ENV}, or a URL that must carry its secret in {WEBHOOK_URL_ENV}")
    secrets = url_secrets(url)
    if in_file and secrets:
        return (f"must not carry a secret ({secrets[0]}): leave url out of the file and set the whole URL in"
                f" {WEBHOOK_URL_ENV} instead (a bearer token goes in {WEBHOOK_TOKEN_ENV})")
    return None


def _api_url(url: str) -> str:
    problem = webhook_url_problem(url, in_file=True)
    if problem is not None:
        raise ValueError(problem)
    return url.rstrip("/")


class WebhookConfig(Strict):
    url: str | None = Field(None, description=f"The receiver; leave it out to use {WEBHOOK_URL_ENV} (a URL that is"
                                              " itself a secret, such as Slack's, goes there, never in the file).")
    timeout_s: float = Field(5.0, gt=0, le=300, description="Per-attempt connect/read timeout.")
    retries: int = Field(3, ge=0, le=10, description="Attempts after the first one on a timeout, a refused connection or a 5xx/429.")
    backoff_s: float = Field(1.0, ge=0, le=60, description="Pause before the first retry, doubled before each next one.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        return None if url is None else _api_url(url)


class EmailConfig(Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username: str | None = Field(None, description=f"SMTP login (default: the from address) when {SMTP_PASSWORD_ENV} is set.")
    starttls: bool = False
    timeout_s: float = Field(10.0, gt=0, le=300)


class SmsConfig(Strict):
    """Twilio's Messages API, or any service that copies it: POST
    `{api_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with To, From and Body, HTTP Basic
    auth of the account and `SENSEX_SMS_TOKEN`."""

    account_sid: str = Field(description="The account the messages are billed to (not a secret; its token is).")
    from_: str = Field(alias="from", description="The sending number, E.164 (+14155550100).")
    to: list[str] = Field(min_length=1, max_length=20, description="Receiving numbers, E.164 (+919800000000).")
    api_url: str = Field("https://api.twilio.com", description="The API's base URL (a compatible service, or a test server).")
    timeout_s: float = Field(10.0, gt=0, le=300)
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0, le=60)

    @field_validator("account_sid")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT.match(value):
            raise ValueError("must be letters, digits, dashes and underscores (the account SID, such as AC0123...)")
        return value

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError("must be a phone number in E.164 form, such as +14155550100")
        return value

    @field_validator("to")
    @classmethod
    def _receivers(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PHONE.match(value):
                raise ValueError("every number must be in E.164 form, such as +919800000000")
        return values

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return _api_url(url)


class TelegramConfig(Strict):
    """A Telegram bot: POST `{api_url}/bot{SENSEX_TELEGRAM_TOKEN}/sendMessage` with the chat and text."""

    chat_id: str = Field(description="The chat, group or channel: its numeric id (-100...) or @channel_name.")
    api_url: str = Field("https://api.telegram.org", description="The Bot API's base URL (a local Bot API server, or a test server).")
    timeout_s: float = Field(10.0, gt=0, le=300)
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0, le=60)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat(cls, value: object) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not _CHAT.match(text):
            raise ValueError("must be a numeric chat id (such as -1001234567890) or a channel name such as @my_channel")
        return text

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        return _api_url(url)


# -- what is sent ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Something the daily job saw; rules decide whether it becomes an alert."""

    kind: str  # one of EVENTS
    message: str
    date: str | None = None
    details: dict = field(default_factory=dict)

    def body(self) -> dict:
        """The webhook body (and the e-mail's attachment-free text): JSON with `event` and `message`."""
        identity = json.dumps([self.kind, self.date, self.message], default=str)
        return {
            "event": self.kind,
            "message": self.message,
            "date": self.date,
            "details": self.details,
            "source": "sensex",
            # The same alert carries the same id, so a receiver can drop a duplicate after a retry.
            "id": hashlib.sha256(identity.encode()).hexdigest()[:16],
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


# -- sending ---------------------------------------------------------------------------------------
def where(url: str | None) -> str:
    """A URL fit for a log line: no user info, no query string, no service token in its path."""
    try:
        parts = urlsplit(url or "")
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or "?"
    except ValueError:
        return "(an unusable URL)"
    return redact_url(f"{parts.scheme}://{host}{port}{parts.path}")


def _post(url: str, what: str, hint: str, timeout_s: float, retries: int, backoff_s: float, **request) -> int:
    """POST with bounded retries on a timeout, a connection error, a 5xx or a 429; returns the
    attempts used. `what` names the target in the error (never the URL when it holds a secret)."""
    import httpx

    last = "no attempt"
    attempts = retries + 1
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = httpx.post(url, timeout=timeout_s, **request)
        except httpx.TimeoutException:
            last = f"no answer within {timeout_s:g} s"
            continue
        except httpx.HTTPError as exc:
            last = f"{exc.__class__.__name__}"
            continue
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:  # a URL httpx cannot use: no retry helps
            last = f"{exc.__class__.__name__}"
            attempts = attempt + 1
            break
        if response.status_code < 300:
            return attempt + 1
        last = f"HTTP {response.status_code}"
        if response.status_code < 500 and response.status_code != 429:
            attempts = attempt + 1
            break  # the receiver refuses this request: sending it again will not help
    raise AlertDeliveryError(f"{what} failed after {attempts} attempt{'s' if attempts > 1 else ''} ({last}): {hint}")


def post_webhook(config: WebhookConfig, body: dict, token: str | None = None, url: str | None = None) -> int:
    """POST `body` as JSON to `url` (default: the config's). Returns the attempts used."""
    url = url or config.url
    problem = webhook_url_problem(url, in_file=False)
    if problem is not None:
        raise AlertDeliveryError(f"Webhook {where(url)} was not called: its URL {problem}; fix the alerts file's"
                                 f" webhook.url or {WEBHOOK_URL_ENV}.")
    headers = {"User-Agent": "sensex-alerts"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return _post(url, f"Webhook {where(url)}", "check that the receiver runs and the alerts file's webhook.url.",
                 config.timeout_s, config.retries, config.backoff_s, json=body, headers=headers)


def send_email(config: EmailConfig, event: Event, password: str | None = None) -> None:
    message = EmailMessage()
    message["Subject"] = f"[sensex] {event.kind}: {event.message[:120]}"
    message["From"] = config.from_
    message["To"] = ", ".join(config.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="sensex")
    message.set_content(f"{event.message}\n\n{json.dumps(event.body(), indent=1, default=str)}\n")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if password:
                smtp.login(config.username or config.from_, password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise AlertDeliveryError(
            f"E-mail via {config.host}:{config.port} was refused at login: check {SMTP_PASSWORD_ENV} and email.username."
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertDeliveryError(
            f"E-mail via {config.host}:{config.port} failed ({exc.__class__.__name__}): check that the SMTP server runs"
            " and the alerts file's email section."
        ) from None


def short_text(event: Event, limit: int) -> str:
    """The alert as a phone shows it: `[sensex] kind date: message`, cut at `limit` characters."""
    text = f"[sensex] {event.kind}{' ' + event.date if event.date else ''}: {event.message}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def send_sms(config: SmsConfig, event: Event, token: str | None) -> int:
    """One SMS per receiving number; returns the messages sent."""
    if not token:
        raise AlertDeliveryError(f"SMS was not sent: {SMS_TOKEN_ENV} is not set; set it to the SMS account's auth token.")
    url = f"{config.api_url}/2010-04-01/Accounts/{quote(config.account_sid, safe='')}/Messages.json"
    text = short_text(event, SMS_MAX_CHARS)
    for number in config.to:
        _post(url, f"SMS to {number[:4]}…{number[-2:]} via {where(config.api_url)}",
              f"check {SMS_TOKEN_ENV}, sms.account_sid and that the SMS API answers.",
              config.timeout_s, config.retries, config.backoff_s,
              data={"To": number, "From": config.from_, "Body": text}, auth=(config.account_sid, token),
              headers={"User-Agent": "sensex-alerts"})
    return len(config.to)


def send_telegram(config: TelegramConfig, event: Event, token: str | None) -> int:
    """One message to the configured chat; returns the attempts used."""
    if not token or not _BOT_TOKEN.match(token):
        raise AlertDeliveryError(f"Telegram message was not sent: {TELEGRAM_TOKEN_ENV} is "
                                 f"{'not set' if not token else 'not a bot token (digits, a colon, then the secret)'};"
                                 " set it to the token @BotFather gave the bot.")
    return _post(f"{config.api_url}/bot{token}/sendMessage", f"Telegram message via {where(config.api_url)}",
                 f"check {TELEGRAM_TOKEN_ENV}, telegram.chat_id (the bot must be in the chat) and that the API answers.",
                 config.timeout_s, config.retries, config.backoff_s,
                 json={"chat_id": config.chat_id, "text": short_text(event, TELEGRAM_MAX_CHARS),
                       "disable_web_page_preview": True},
                 headers={"User-Agent": "sensex-alerts"})
