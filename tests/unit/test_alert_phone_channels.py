"""SMS (a Twilio-style Messages API) and Telegram bot alerts, delivered to a local server that
checks credentials and answers as the real services do; secrets come from the environment only
and never reach a message, an error or a log line."""

from __future__ import annotations

import logging

import pytest
from alert_receivers import MessagingApi

from sensex.core.errors import ConfigError
from sensex.monitoring.alerts import Event, dispatch, parse_alerts

BOT_TOKEN = "123456:ABCdefGhIJKlmnOPQRstuVWXyz0123456789"
DRIFT = Event("drift", "Feature drift: retrain (largest shift: market context PSI 0.41).", "2026-12-04",
              {"severity": "retrain"})
ENV = {"SENSEX_SMS_TOKEN": "sms-secret-token", "SENSEX_TELEGRAM_TOKEN": BOT_TOKEN}


def _config(api_url: str, **overrides):
    data = {"sms": {"account_sid": "AC0123", "from": "+14155550100", "to": ["+919800000001", "+919800000002"],
                    "api_url": api_url, "backoff_s": 0},
            "telegram": {"chat_id": "-1001234567890", "api_url": api_url, "backoff_s": 0},
            "rules": [{"when": "drift", "severity": "retrain", "channels": ["sms", "telegram"]}]}
    data.update(overrides)
    return parse_alerts(data, "alerts.yaml", env={})


def test_a_drift_alert_reaches_every_phone_and_the_chat(caplog):
    caplog.set_level(logging.DEBUG)
    with MessagingApi() as api:
        delivery = dispatch(_config(api.url), [DRIFT], env=ENV)
    assert delivery.errors == [] and delivery.sent == 2
    assert delivery.alerts == [{"event": "drift", "channel": "sms"}, {"event": "drift", "channel": "telegram"}]
    sms = [r for r in api.requests if "form" in r]
    assert [r["form"]["To"] for r in sms] == ["+919800000001", "+919800000002"]
    assert sms[0]["form"]["From"] == "+14155550100"
    assert sms[0]["form"]["Body"] == ("[sensex] drift 2026-12-04: Feature drift: retrain (largest shift: market"
                                      " context PSI 0.41).")
    chat = [r["json"] for r in api.requests if "json" in r]
    assert chat == [{"chat_id": "-1001234567890", "text": sms[0]["form"]["Body"], "disable_web_page_preview": True}]
    assert BOT_TOKEN not in caplog.text and "sms-secret-token" not in caplog.text


def test_a_long_message_is_cut_to_two_sms_segments():
    long = Event("daily_failed", "x" * 1000, "2026-12-04")
    with MessagingApi() as api:
        config = _config(api.url, rules=[{"when": "daily_failed", "channels": ["sms"]}])
        assert dispatch(config, [long], env=ENV).sent == 1
    body = api.requests[0]["form"]["Body"]
    assert len(body) == 320 and body.endswith("…")


@pytest.mark.parametrize("env, says", [
    ({}, "SENSEX_SMS_TOKEN is not set"),
    ({"SENSEX_SMS_TOKEN": "wrong", "SENSEX_TELEGRAM_TOKEN": "123456:wrongwrongwrongwrongwrongwrong"}, "HTTP 401"),
    ({"SENSEX_SMS_TOKEN": "sms-secret-token", "SENSEX_TELEGRAM_TOKEN": "not-a-token"}, "not a bot token"),
])
def test_a_missing_or_wrong_token_is_one_sentence_that_never_quotes_it(env, says):
    with MessagingApi() as api:
        delivery = dispatch(_config(api.url), [DRIFT], env=env)
    assert delivery.errors and any(says in e for e in delivery.errors), delivery.errors
    for error in delivery.errors:
        assert "\n" not in error and error.endswith(".")
        for secret in (*env.values(), BOT_TOKEN):
            assert secret not in error


def test_an_unknown_chat_is_not_retried_and_a_busy_api_is():
    with MessagingApi(chat="-100999") as api:
        delivery = dispatch(_config(api.url, rules=[{"when": "drift", "channels": ["telegram"]}]), [DRIFT], env=ENV)
    assert len(api.requests) == 1 and "HTTP 400" in delivery.errors[0] and "telegram.chat_id" in delivery.errors[0]
    with MessagingApi(failures=2) as api:
        delivery = dispatch(_config(api.url, rules=[{"when": "drift", "channels": ["telegram"]}]), [DRIFT], env=ENV)
    assert delivery.errors == [] and len(api.requests) == 3  # two 503s, then delivered (retries: 2)


@pytest.mark.parametrize("section, says", [
    ({"sms": {"account_sid": "AC0123", "from": "14155550100", "to": ["+919800000001"]}}, "sms.from"),
    ({"sms": {"account_sid": "AC0123", "from": "+14155550100", "to": ["98000 00001"]}}, "sms.to"),
    ({"sms": {"account_sid": "AC0123", "from": "+14155550100", "to": ["+919800000001"], "token": "t"}},
     "SENSEX_SMS_TOKEN"),
    ({"telegram": {"chat_id": "-100123", "bot_token": BOT_TOKEN}}, "SENSEX_TELEGRAM_TOKEN"),
    ({"telegram": {"chat_id": "my group"}}, "telegram.chat_id"),
    ({"telegram": {"chat_id": "-100123", "api_url": f"https://api.telegram.org/bot{BOT_TOKEN}"}}, "telegram.api_url"),
])
def test_a_bad_phone_section_is_one_sentence_naming_the_field(section, says):
    with pytest.raises(ConfigError) as raised:
        parse_alerts({**section, "rules": [{"when": "drift"}]}, "alerts.yaml", env={})
    assert says in str(raised.value) and BOT_TOKEN not in str(raised.value)


def test_a_numeric_chat_id_in_yaml_is_read_as_the_chat():
    config = parse_alerts({"telegram": {"chat_id": -1001234567890}, "rules": [{"when": "drift"}]}, "a.yaml", env={})
    assert config.telegram.chat_id == "-1001234567890" and config.channels() == ["telegram"]
