"""Alerts: the alerts.yaml contract, the rules, and delivery to a real local HTTP server and a real
local SMTP server that the tests start."""

from __future__ import annotations

import logging

import pytest
from alert_receivers import Hook
from conftest import free_port

from sensex.core.errors import AlertDeliveryError, ConfigError
from sensex.monitoring import alerts
from sensex.monitoring.alerts import Event, dispatch, load_alerts, parse_alerts

# The alerts file of the documented contract (docs/reference), verbatim.
CONTRACT_EXAMPLE = """\
webhook: {url: "http://127.0.0.1:9000/hook", timeout_s: 5, retries: 3}
email: {host: 127.0.0.1, port: 8025, from: "sensex@localhost", to: ["me@localhost"]}  # password from SENSEX_SMTP_PASSWORD
rules:
  - {when: forecast, min_probability: 0.0}   # every forecast
  - {when: drift, severity: retrain}
  - {when: data_not_ready}
"""


def test_the_contract_example_loads(tmp_path):
    (tmp_path / "alerts.yaml").write_text(CONTRACT_EXAMPLE)
    config = load_alerts(tmp_path)
    assert config.webhook.url == "http://127.0.0.1:9000/hook" and config.webhook.retries == 3
    assert config.email.from_ == "sensex@localhost" and config.email.to == ["me@localhost"]
    assert [rule.when for rule in config.rules] == ["forecast", "drift", "data_not_ready"]
    assert config.channels() == ["webhook", "email"]


def test_no_file_means_no_alerts_but_a_missing_explicit_file_is_an_error(tmp_path):
    assert load_alerts(tmp_path) is None
    with pytest.raises(ConfigError, match="does not exist"):
        load_alerts(tmp_path, tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, field", [
    ("webhook: {url: 'http://h/x'}\nrules: [{when: forecast, min_probability: 1.5}]", "rules[0].min_probability"),
    ("webhook: {url: 'http://h/x'}\nrules: [{when: forecast, min_probabilty: 0.5}]", "rules[0].min_probabilty"),
    ("webhook: {url: 'http://h/x'}\nrules: [{when: sometimes}]", "rules[0]"),
    ("webhook: {url: 'http://h/x'}\nrules: [{when: drift, severity: huge}]", "rules[0].severity"),
    ("webhook: {url: 'ftp://h/x'}", "webhook.url"),
    ("webhook: {url: 'http://h/x', retries: many}", "webhook.retries"),
    ("webhook: {url: 'http://h/x', timeout_s: 0}", "webhook.timeout_s"),
    ("webhook: {url: 'http://h/x?token=abc'}", "webhook.url"),
    ("email: {host: h, from: a@b, to: []}", "email.to"),
    ("email: {host: h, to: [a@b]}", "email.from"),
    ("email: {host: h, from: a@b, to: [c@d], password: hunter2}", "email.password"),
    ("webhook: {url: 'http://h/x', token: abc}", "webhook.token"),
    ("rules: [{when: drift}]", "rules"),
    ("webhook: {url: 'http://h/x'}\nrules: [{when: drift, channels: [email]}]", "rules"),
    ("hooks: {url: 'http://h/x'}", "hooks"),
    ("- just\n- a list", None),
    ("webhook: {url: [unclosed", None),
])
def test_a_bad_alerts_file_is_one_sentence_naming_file_and_field(tmp_path, text, field):
    path = tmp_path / "my-alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_alerts(tmp_path, path)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message and message.endswith(".")
    if field:
        assert field in message
    assert "hunter2" not in message


def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text("email: {host: h, from: a@b, to: [c@d], password: hunter2}")
    with pytest.raises(ConfigError) as raised:
        load_alerts(tmp_path)
    assert "hunter2" not in str(raised.value) and "SENSEX_SMTP_PASSWORD" in str(raised.value)


def _config(**rules_and_channels):
    return parse_alerts({"webhook": {"url": "http://127.0.0.1:1/x"}, **rules_and_channels}, "test")


@pytest.mark.parametrize("rule, details, fires", [
    ({"when": "forecast", "min_probability": 0.0}, {"direction": "DOWN", "probability": 0.51}, True),
    ({"when": "forecast", "min_probability": 0.6}, {"direction": "UP", "probability": 0.61}, True),
    ({"when": "forecast", "min_probability": 0.6}, {"direction": "UP", "probability": 0.59}, False),
    ({"when": "forecast", "min_probability": 0.6}, {"direction": "DOWN", "probability": 0.35}, True),  # P(DOWN)=0.65
    ({"when": "forecast", "min_probability": 0.6, "direction": "UP"}, {"direction": "DOWN", "probability": 0.2}, False),
])
def test_forecast_rule_is_about_the_forecasts_own_side(rule, details, fires):
    config = _config(rules=[rule])
    assert bool(alerts.matching_channels(config, Event("forecast", "m", "2022-03-02", details))) is fires


@pytest.mark.parametrize("rule, fires", [
    ({"when": "forecast", "min_probability": 0.0, "direction": "UP"}, False),  # not an UP forecast
    ({"when": "forecast", "min_probability": 0.6}, False),  # P(UP) 0.62, but no side is called
    ({"when": "forecast", "min_probability": 0.0}, True),  # every forecast: a no call is one
])
def test_a_no_call_is_not_alerted_as_a_direction(rule, fires):
    no_call = {"direction": "UP", "probability": 0.62, "no_call": True}
    assert bool(alerts.matching_channels(_config(rules=[rule]), Event("forecast", "m", "2022-03-02", no_call))) is fires


@pytest.mark.parametrize("threshold, severity, fires", [
    ("retrain", "retrain", True), ("retrain", "watch", False), ("watch", "retrain", True),
    ("watch", "watch", True), ("watch", "ok", False), ("watch", "not_judged", False),
])
def test_drift_rule_fires_at_or_above_its_severity(threshold, severity, fires):
    config = _config(rules=[{"when": "drift", "severity": threshold}])
    event = Event("drift", "m", "2022-03-02", {"severity": severity})
    assert bool(alerts.matching_channels(config, event)) is fires


def test_promotion_rule_fires_on_refused_or_failed_only():
    config = _config(rules=[{"when": "promotion"}])
    assert alerts.matching_channels(config, Event("promotion", "m", None, {"outcome": "refused"})) == ["webhook"]
    assert alerts.matching_channels(config, Event("promotion", "m", None, {"outcome": "failed"})) == ["webhook"]
    assert alerts.matching_channels(config, Event("promotion", "m", None, {"outcome": "promoted"})) == []
    # An event no rule names is not sent.
    assert alerts.matching_channels(config, Event("data_not_ready", "m")) == []


# -- a real HTTP server (tests/alert_receivers.py) -----------------------------------------------------
def _webhook(url, **extra):
    return parse_alerts({"webhook": {"url": url, "backoff_s": 0.05, **extra},
                         "rules": [{"when": "forecast", "min_probability": 0.0}, {"when": "daily_failed"}]}, "test")


FORECAST = Event("forecast", "SENSEX 2022-03-03 (close): UP P(UP)=0.617", "2022-03-02",
                 {"direction": "UP", "probability": 0.6167, "mode": "close"})


def test_webhook_posts_json_with_event_and_message_and_the_token_from_the_environment():
    with Hook() as hook:
        delivery = dispatch(_webhook(hook.url), [FORECAST], env={"SENSEX_WEBHOOK_TOKEN": "s3cret-token"})
    assert delivery.sent == 1 and delivery.errors == []
    [request] = hook.requests
    body = request["body"]
    assert body["event"] == "forecast" and body["message"].startswith("SENSEX 2022-03-03")
    assert body["date"] == "2022-03-02" and body["details"]["probability"] == 0.6167 and body["id"]
    assert request["headers"]["Authorization"] == "Bearer s3cret-token"
    assert request["headers"]["Content-Type"] == "application/json"


def test_webhook_retries_a_server_that_fails_twice_then_succeeds():
    with Hook(failures=2) as hook:
        delivery = dispatch(_webhook(hook.url, retries=3), [FORECAST], env={})
    assert delivery.sent == 1 and delivery.errors == []
    assert len(hook.requests) == 3
    assert len({r["body"]["id"] for r in hook.requests}) == 1  # one alert, one id across retries


def test_webhook_gives_up_after_its_retries_and_says_so_in_one_sentence(caplog):
    with Hook(failures=99) as hook:
        delivery = dispatch(_webhook(hook.url, retries=2), [FORECAST], env={"SENSEX_WEBHOOK_TOKEN": "s3cret-token"})
    assert delivery.sent == 0 and len(hook.requests) == 3
    [error] = delivery.errors
    assert "failed after 3 attempts (HTTP 503)" in error and "s3cret-token" not in error
    assert "s3cret-token" not in caplog.text


def test_webhook_does_not_retry_a_client_error():
    with Hook(failures=99, status=404) as hook:
        with pytest.raises(AlertDeliveryError, match=r"after 1 attempt \(HTTP 404\)"):
            alerts.post_webhook(_webhook(hook.url, retries=3).webhook, FORECAST.body())
    assert len(hook.requests) == 1


@pytest.mark.timeout(60)
def test_webhook_that_hangs_times_out_and_is_retried():
    with Hook(hang=True) as hook:
        delivery = dispatch(_webhook(hook.url, timeout_s=0.5, retries=1), [FORECAST], env={})
    assert delivery.sent == 0 and len(hook.requests) == 2
    assert "no answer within 0.5 s" in delivery.errors[0]


def test_webhook_to_a_port_nobody_listens_on_is_an_error_not_a_crash():
    delivery = dispatch(_webhook(f"http://127.0.0.1:{free_port()}/hook", retries=1), [FORECAST], env={})
    assert delivery.sent == 0 and "ConnectError" in delivery.errors[0]


# -- a real SMTP server ---------------------------------------------------------------------------------
@pytest.fixture
def smtp_server():
    pytest.importorskip("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Inbox:
        messages: list = []
        logins: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 Message accepted for delivery"

    inbox = Inbox()
    inbox.messages, inbox.logins = [], []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"smtp-pass-42"
        inbox.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def _email(port, **extra):
    return parse_alerts({"email": {"host": "127.0.0.1", "port": port, "from": "sensex@localhost",
                                   "to": ["me@localhost", "ops@localhost"], **extra},
                         "rules": [{"when": "data_not_ready"}]}, "test")


def test_email_reaches_a_local_smtp_server_with_the_password_from_the_environment(smtp_server, caplog):
    port, inbox = smtp_server
    caplog.set_level(logging.DEBUG)
    event = Event("data_not_ready", "Data for session 2022-03-02 is not ready: the store ends 2022-02-28.", "2022-03-02",
                  {"stale": True})
    delivery = dispatch(_email(port), [event], env={"SENSEX_SMTP_PASSWORD": "smtp-pass-42"})
    assert delivery.sent == 1 and delivery.errors == []
    assert inbox.logins == [("sensex@localhost", True)]
    [envelope] = inbox.messages
    assert envelope.mail_from == "sensex@localhost" and envelope.rcpt_tos == ["me@localhost", "ops@localhost"]
    text = envelope.content.decode()
    assert "Subject: [sensex] data_not_ready: Data for session 2022-03-02 is not ready" in text
    assert '"event": "data_not_ready"' in text
    assert "smtp-pass-42" not in text and "smtp-pass-42" not in caplog.text


def test_email_with_a_wrong_password_is_a_sentence_without_the_password(smtp_server, caplog):
    port, inbox = smtp_server
    event = Event("data_not_ready", "not ready", "2022-03-02")
    delivery = dispatch(_email(port), [event], env={"SENSEX_SMTP_PASSWORD": "wrong-pass-17"})
    assert delivery.sent == 0 and inbox.messages == []
    [error] = delivery.errors
    assert "refused at login" in error and "SENSEX_SMTP_PASSWORD" in error
    assert "wrong-pass-17" not in error and "wrong-pass-17" not in caplog.text


def test_email_to_a_server_that_is_not_there_is_an_error_not_a_crash():
    delivery = dispatch(_email(free_port()), [Event("data_not_ready", "not ready")], env={})
    assert delivery.sent == 0 and "ConnectionRefusedError" in delivery.errors[0]
