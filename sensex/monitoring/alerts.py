"""Alerts on the conditions configured in `$SENSEX_HOME/alerts.yaml` (or `sensex daily --alerts
FILE`), sent to a webhook, e-mail, SMS or a Telegram chat (`sensex.monitoring.alert_channels`).

```yaml
webhook: {url: "http://127.0.0.1:9000/hook", timeout_s: 5, retries: 3}
email: {host: 127.0.0.1, port: 8025, from: "sensex@localhost", to: ["me@localhost"]}
sms: {account_sid: AC0123, from: "+14155550100", to: ["+919800000000"]}   # token: SENSEX_SMS_TOKEN
telegram: {chat_id: "-1001234567890"}                                    # token: SENSEX_TELEGRAM_TOKEN
rules:
  - {when: forecast, min_probability: 0.0}   # every forecast
  - {when: drift, severity: retrain, channels: [sms, telegram]}
  - {when: data_not_ready}
  - {when: promotion}                         # a refused or failed promotion
  - {when: daily_failed}
```

Secrets never live in the file (each channel's comes from the environment, `alert_channels` names
them); none is logged or put in an error message. A webhook URL that is itself a secret (Slack's
`hooks.slack.com/services/...`, Discord's `/api/webhooks/ID/TOKEN`, Telegram's `/botTOKEN/`, a
`?key=` or `?token=` query) is refused in the file: leave `url` out of the `webhook` section and
set `SENSEX_WEBHOOK_URL` instead. Every URL is validated fully (http or https, a host, a port from
1 to 65535, no spaces, no user info, which would replace the bearer token with Basic auth), and
wherever one is shown (an error, a log line, the daily summary) its credentials are masked
(`sensex.core.redaction`). A webhook body is JSON with at least `event` and `message`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from sensex.core.errors import AlertDeliveryError, ConfigError
from sensex.core.redaction import install_log_redaction, redact_text
from sensex.monitoring.alert_channels import (  # noqa: F401 - the channels and their settings, importable from here too
    SMS_TOKEN_ENV,
    SMTP_PASSWORD_ENV,
    TELEGRAM_TOKEN_ENV,
    WEBHOOK_TOKEN_ENV,
    WEBHOOK_URL_ENV,
    EmailConfig,
    Event,
    SmsConfig,
    Strict,
    TelegramConfig,
    WebhookConfig,
    post_webhook,
    send_email,
    send_sms,
    send_telegram,
    webhook_url_problem,
)

log = logging.getLogger(__name__)

ALERTS_FILE = "alerts.yaml"
MAX_ALERTS_BYTES = 1 << 20  # an alerts file is a few hundred bytes
# Drift severities in increasing order (the vocabulary of `sensex registry drift`); its `not_judged`
# (too few sessions for a verdict) is not among them, so it fires no drift rule.
SEVERITIES = ("ok", "watch", "retrain")
EVENTS = ("forecast", "drift", "data_not_ready", "promotion", "daily_failed", "test")
CHANNELS = ("webhook", "email", "sms", "telegram")
Channel = Literal["webhook", "email", "sms", "telegram"]


# -- the file ------------------------------------------------------------------------------------
class _Rule(Strict):
    channels: list[Channel] | None = Field(None, description="Default: every channel configured.")


class ForecastRule(_Rule):
    """A forecast whose own side is at least this likely: P(UP) for an UP call, 1 - P(UP) for DOWN.
    A no call has no side: only a rule for every forecast (no direction, no minimum) hears it."""

    when: Literal["forecast"]
    min_probability: float = Field(0.0, ge=0.0, le=1.0)
    direction: Literal["UP", "DOWN"] | None = None

    def matches(self, event: Event) -> bool:
        direction, probability = event.details.get("direction"), event.details.get("probability")
        if probability is None:
            return False
        if event.details.get("no_call"):
            # Its `direction` is only the side of 50% P(UP) leans to; the model itself calls neither.
            return self.direction is None and self.min_probability == 0.0
        if self.direction and direction != self.direction:
            return False
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


class AlertsConfig(Strict):
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None
    sms: SmsConfig | None = None
    telegram: TelegramConfig | None = None
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _channels_exist(self) -> AlertsConfig:
        configured = self.channels()
        if self.rules and not configured:
            raise ValueError("rules need a `webhook`, `email`, `sms` or `telegram` section to send to")
        for rule in self.rules:
            missing = set(rule.channels or ()) - set(configured)
            if missing:
                raise ValueError(f"a `{rule.when}` rule sends to {sorted(missing)}, which has no section in the file")
        return self

    def channels(self) -> list[str]:
        return [name for name in CHANNELS if getattr(self, name) is not None]


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
        raise ConfigError(f"{where} must be a mapping with channel sections (`webhook`, `email`, `sms`, `telegram`)"
                          " and `rules`: fix the file.")
    for section, secret, variable in (("email", "password", SMTP_PASSWORD_ENV), ("webhook", "token", WEBHOOK_TOKEN_ENV),
                                      ("sms", "token", SMS_TOKEN_ENV), ("sms", "auth_token", SMS_TOKEN_ENV),
                                      ("telegram", "token", TELEGRAM_TOKEN_ENV),
                                      ("telegram", "bot_token", TELEGRAM_TOKEN_ENV)):
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
    install_log_redaction()  # the HTTP client logs the URLs it calls; a bot token is part of one
    env = os.environ if env is None else env
    for event in events:
        channels = config.channels() if force else matching_channels(config, event)
        for channel in channels:
            try:
                if channel == "webhook":
                    post_webhook(config.webhook, event.body(), env.get(WEBHOOK_TOKEN_ENV) or None,
                                 config.webhook.url or env.get(WEBHOOK_URL_ENV))
                elif channel == "email":
                    send_email(config.email, event, env.get(SMTP_PASSWORD_ENV) or None)
                elif channel == "sms":
                    send_sms(config.sms, event, env.get(SMS_TOKEN_ENV) or None)
                else:
                    send_telegram(config.telegram, event, env.get(TELEGRAM_TOKEN_ENV) or None)
            except AlertDeliveryError as exc:
                log.warning("Alert %s not delivered: %s", event.kind, exc)
                delivery.errors.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - an alert that fails must not fail the job that sends it
                message = redact_text(f"The {channel} alert {event.kind} failed ({type(exc).__name__}: {str(exc)[:160]}):"
                                      f" check the alerts file's {channel} section.")
                log.warning("Alert %s not delivered: %s", event.kind, message)
                delivery.errors.append(message)
                continue
            delivery.sent += 1
            delivery.alerts.append({"event": event.kind, "channel": channel})
    return delivery
