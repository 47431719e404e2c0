"""Alerts: a webhook (JSON POST with retries and a timeout) and e-mail (SMTP), on the conditions
configured in `$SENSEX_HOME/alerts.yaml` (or `sensex daily --alerts FILE`).

```yaml
webhook: {url: "http://127.0.0.1:9000/hook", timeout_s: 5, retries: 3}
email: {host: 127.0.0.1, port: 8025, from: "sensex@localhost", to: ["me@localhost"]}
rules:
  - {when: forecast, min_probability: 0.0}   # every forecast
  - {when: drift, severity: retrain}
  - {when: data_not_ready}
  - {when: promotion}                         # a refused or failed promotion
  - {when: daily_failed}
```

Secrets never live in the file: the SMTP password comes from `SENSEX_SMTP_PASSWORD`, a webhook
bearer token from `SENSEX_WEBHOOK_TOKEN`; neither is logged nor put in an error message.
A webhook URL that is itself a secret (Slack's `hooks.slack.com/services/...`, Discord's
`/api/webhooks/ID/TOKEN`, Telegram's `/botTOKEN/`, a `?key=` or `?token=` query) is refused in
the file: leave `url` out of the `webhook` section and set `SENSEX_WEBHOOK_URL` instead. Every URL
is validated fully (http or https, a host, a port from 1 to 65535, no spaces, no user info, which
would replace the bearer token with Basic auth), and wherever one is shown (an error, a log line,
the daily summary) its credentials are masked (`sensex.core.redaction`).
A webhook body is JSON with at least `event` and `message`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sensex.core.errors import AlertDeliveryError, ConfigError
from sensex.core.redaction import redact_text, redact_url, url_secrets

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.yaml"
SMTP_PASSWORD_ENV = "SENSEX_SMTP_PASSWORD"
WEBHOOK_TOKEN_ENV = "SENSEX_WEBHOOK_TOKEN"
WEBHOOK_URL_ENV = "SENSEX_WEBHOOK_URL"  # a webhook URL that is itself a secret (Slack, Discord, Telegram)
MAX_URL_CHARS = 2048
MAX_ALERTS_BYTES = 1 << 20  # an alerts file is a few hundred bytes
# Drift severities in increasing order (the vocabulary of `sensex registry drift`).
SEVERITIES = ("ok", "watch", "retrain")
EVENTS = ("forecast", "drift", "data_not_ready", "promotion", "daily_failed", "test")
Channel = Literal["webhook", "email"]


# -- the file ------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def webhook_url_problem(url: object, in_file: bool = True) -> str | None:
    """Why `url` cannot be a webhook URL, in words that never quote it; None when it can.
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


class WebhookConfig(_Strict):
    url: str | None = Field(None, description=f"The receiver; leave it out to use {WEBHOOK_URL_ENV} (a URL that is"
                                              " itself a secret, such as Slack's, goes there, never in the file).")
    timeout_s: float = Field(5.0, gt=0, le=300, description="Per-attempt connect/read timeout.")
    retries: int = Field(3, ge=0, le=10, description="Attempts after the first one on a timeout, a refused connection or a 5xx/429.")
    backoff_s: float = Field(1.0, ge=0, le=60, description="Pause before the first retry, doubled before each next one.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        problem = webhook_url_problem(url, in_file=True)
        if problem is not None:
            raise ValueError(problem)
        return url


class EmailConfig(_Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username: str | None = Field(None, description=f"SMTP login (default: the from address) when {SMTP_PASSWORD_ENV} is set.")
    starttls: bool = False
    timeout_s: float = Field(10.0, gt=0, le=300)


class _Rule(_Strict):
    channels: list[Channel] | None = Field(None, description="Default: every channel configured.")


class ForecastRule(_Rule):
    """A forecast whose own side is at least this likely: P(UP) for an UP call, 1 - P(UP) for DOWN."""

    when: Literal["forecast"]
    min_probability: float = Field(0.0, ge=0.0, le=1.0)
    direction: Literal["UP", "DOWN"] | None = None

    def matches(self, event: Event) -> bool:
        direction, probability = event.details.get("direction"), event.details.get("probability")
        if probability is None or (self.direction and (direction != self.direction or event.details.get("no_call"))):
            return False  # a no call is not a forecast of either direction
        side = probability if direction == "UP" else 1.0 - probability
        return side >= self.min_probability


class DriftRule(_Rule):
    when: Literal["drift"]
    severity: Literal["watch", "retrain"] = "retrain"

    def matches(self, event: Event) -> bool:
        severity = event.details.get("severity", "ok")
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.severity) if severity in SEVERITIES else False


class DataNotReadyRule(_Rule):
    """The store lacks the session the job runs for (stale), or its quality report says not ready."""

    when: Literal["data_not_ready"]

    def matches(self, event: Event) -> bool:
        return True


class PromotionRule(_Rule):
    """A challenger the gate refused, or a promotion that failed."""

    when: Literal["promotion"]

    def matches(self, event: Event) -> bool:
        return event.details.get("outcome") in ("refused", "failed")


class DailyFailedRule(_Rule):
    when: Literal["daily_failed"]

    def matches(self, event: Event) -> bool:
        return True


Rule = Annotated[ForecastRule | DriftRule | DataNotReadyRule | PromotionRule | DailyFailedRule, Field(discriminator="when")]


class AlertsConfig(_Strict):
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _channels_exist(self) -> AlertsConfig:
        configured = self.channels()
        if self.rules and not configured:
            raise ValueError("rules need a `webhook` or an `email` section to send to")
        for rule in self.rules:
            missing = set(rule.channels or ()) - set(configured)
            if missing:
                raise ValueError(f"a `{rule.when}` rule sends to {sorted(missing)}, which has no section in the file")
        return self

    def channels(self) -> list[str]:
        return [name for name in ("webhook", "email") if getattr(self, name) is not None]


def _field_path(loc: tuple) -> str:
    """`rules[1].min_probability` from pydantic's ('rules', 1, 'forecast', 'min_probability')."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and part in EVENTS:
            continue  # the union's tag, already said by the rule's `when`
        else:
            out += f".{part}" if out else str(part)
    return out or "rules"  # the only whole-file checks are about rules and their channels


def parse_alerts(data: object, where: str, env: dict[str, str] | None = None) -> AlertsConfig:
    """Validate the parsed YAML; every problem is one sentence naming the file and the field (or
    SENSEX_WEBHOOK_URL), never quoting a URL. `env` (default: the process environment) is where
    a webhook section without `url` finds it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with `webhook`, `email` and `rules`: fix the file.")
    for section, secret, variable in (("email", "password", SMTP_PASSWORD_ENV), ("webhook", "token", WEBHOOK_TOKEN_ENV)):
        if isinstance(data.get(section), dict) and secret in data[section]:
            raise ConfigError(f"{where}: {section}.{secret}: secrets never go in the file; set {variable} in the environment instead.")
    try:
        config = AlertsConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_field_path(err['loc'])}: {err['msg'].removeprefix('Value error, ').rstrip('.')}"
                    for err in exc.errors()[:3]]
        raise ConfigError(f"{where} is not a valid alerts file ({'; '.join(problems)}): fix it as docs/operations.md (Alerts) shows.") from None
    if config.webhook is not None and config.webhook.url is None:
        url = (os.environ if env is None else env).get(WEBHOOK_URL_ENV)
        if not url:
            raise ConfigError(f"{where}: webhook.url is missing: give the receiver's URL there, or set {WEBHOOK_URL_ENV}"
                              " when the URL is itself a secret (Slack, Discord, Telegram).")
        problem = webhook_url_problem(url, in_file=False)
        if problem is not None:
            raise ConfigError(f"{WEBHOOK_URL_ENV} {problem}: fix it (the file {where} leaves webhook.url to it).")
    return config


def load_alerts(home: Path, path: str | Path | None = None, env: dict[str, str] | None = None) -> AlertsConfig | None:
    """`path`, or `$SENSEX_HOME/alerts.yaml` when it exists; None means no alerts configured.
    `env` (default: the process environment) may hold SENSEX_WEBHOOK_URL."""
    explicit = path is not None
    path = Path(path) if explicit else home / ALERTS_FILE
    if not path.is_file():
        if explicit:
            raise ConfigError(f"Alerts file {path} does not exist: pass an existing file to --alerts.")
        return None
    try:
        if path.stat().st_size > MAX_ALERTS_BYTES:
            raise ConfigError(f"Alerts file {path} is over {MAX_ALERTS_BYTES:,} bytes: an alerts file is a few lines;"
                              " check that it is the right file.")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be an alerts file: fix it as docs/operations.md (Alerts)"
                          " shows.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{line}: fix its syntax.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Alerts file {path} cannot be read ({exc.__class__.__name__}): check its permissions and encoding.") from None
    return parse_alerts(data if data is not None else {}, str(path), env)


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


def _where(url: str | None) -> str:
    """A URL fit for a log line: no user info, no query string, no service token in its path."""
    try:
        parts = urlsplit(url or "")
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or "?"
    except ValueError:
        return "(an unusable URL)"
    return redact_url(f"{parts.scheme}://{host}{port}{parts.path}")


def post_webhook(config: WebhookConfig, body: dict, token: str | None = None, url: str | None = None) -> int:
    """POST `body` as JSON to `url` (default: the config's); retry a timeout, a connection error, a
    5xx or a 429. Returns the attempts used; raises AlertDeliveryError, never another error."""
    import httpx

    url = url or config.url
    problem = webhook_url_problem(url, in_file=False)
    if problem is not None:
        raise AlertDeliveryError(f"Webhook {_where(url)} was not called: its URL {problem}; fix the alerts file's"
                                 f" webhook.url or {WEBHOOK_URL_ENV}.")
    headers = {"User-Agent": "sensex-alerts"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = "no attempt"
    attempts = config.retries + 1
    for attempt in range(attempts):
        if attempt:
            time.sleep(config.backoff_s * 2 ** (attempt - 1))
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=config.timeout_s)
        except httpx.TimeoutException:
            last = f"no answer within {config.timeout_s:g} s"
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
    raise AlertDeliveryError(
        f"Webhook {_where(url)} failed after {attempts} attempt{'s' if attempts > 1 else ''} ({last}):"
        " check that the receiver runs and the alerts file's webhook.url."
    )


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


@dataclass
class Delivery:
    sent: int = 0  # deliveries that succeeded (one alert to webhook and e-mail counts twice)
    alerts: list[dict] = field(default_factory=list)  # what went where
    errors: list[str] = field(default_factory=list)


def matching_channels(config: AlertsConfig, event: Event) -> list[str]:
    channels: list[str] = []
    for rule in config.rules:
        if rule.when == event.kind and rule.matches(event):
            for channel in rule.channels or config.channels():
                if channel not in channels:
                    channels.append(channel)
    return channels


def dispatch(config: AlertsConfig | None, events: list[Event], env: dict[str, str] | None = None,
             force: bool = False) -> Delivery:
    """Send every event a rule matches (every event, to every channel, with `force`); never raises:
    a failed delivery becomes a sentence in `errors`."""
    delivery = Delivery()
    if config is None:
        return delivery
    env = os.environ if env is None else env
    for event in events:
        channels = config.channels() if force else matching_channels(config, event)
        for channel in channels:
            try:
                if channel == "webhook":
                    post_webhook(config.webhook, event.body(), env.get(WEBHOOK_TOKEN_ENV) or None,
                                 config.webhook.url or env.get(WEBHOOK_URL_ENV))
                else:
                    send_email(config.email, event, env.get(SMTP_PASSWORD_ENV) or None)
            except AlertDeliveryError as exc:
                log.warning("Alert %s not delivered: %s", event.kind, exc)
                delivery.errors.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - an alert that fails must not fail the job that sends it
                message = redact_text(f"The {channel} alert {event.kind} failed ({type(exc).__name__}: {str(exc)[:160]}):"
                                      " check the alerts file's webhook and email sections.")
                log.warning("Alert %s not delivered: %s", event.kind, message)
                delivery.errors.append(message)
                continue
            delivery.sent += 1
            delivery.alerts.append({"event": event.kind, "channel": channel})
    return delivery
