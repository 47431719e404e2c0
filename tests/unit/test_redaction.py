"""Credentials never shown: every URL form, free text, our errors, every log record."""

from __future__ import annotations

import logging

import pytest

from sensex.core.errors import ModelNotFoundError
from sensex.core.redaction import install_log_redaction, redact_text, redact_url

SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(("url", "expected"), [
    (f"redis://:{SECRET}@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
    (f"redis://default:{SECRET}@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
    (f"redis://127.0.0.1:6379/0?password={SECRET}", "redis://127.0.0.1:6379/0?password=***"),
    (f"redis://127.0.0.1:6379/0?db=1&pass={SECRET}&ssl=1", "redis://127.0.0.1:6379/0?db=1&pass=***&ssl=1"),
    (f"rediss://h:6380/0?PASSWORD={SECRET}", "rediss://h:6380/0?PASSWORD=***"),
    (f"unix:///run/redis.sock?db=0&password={SECRET}", "unix:///run/redis.sock?db=0&password=***"),
    (f"https://h/api?token={SECRET}", "https://h/api?token=***"),
    (f"https://h/api?access_token={SECRET}#top", "https://h/api?access_token=***#top"),
    (f"https://h/api?client_secret={SECRET}", "https://h/api?client_secret=***"),
    (f"https://h/api?api_key={SECRET}&x=1", "https://h/api?api_key=***&x=1"),
    (f"https://h/api?apikey={SECRET}", "https://h/api?apikey=***"),
    (f"https://bucket.s3/x?X-Amz-Signature={SECRET}", "https://bucket.s3/x?X-Amz-Signature=***"),
    (f"http://mlflow-user:{SECRET}@10.0.0.5:5000", "http://***@10.0.0.5:5000"),
    (f"https://{SECRET}@mlflow.example.com", "https://***@mlflow.example.com"),
    (f"postgresql://mlflow:{SECRET}@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
    (f"postgresql+psycopg2://mlflow:{SECRET}@db/mlflow?sslmode=require", "postgresql+psycopg2://***@db/mlflow?sslmode=require"),
    (f"mysql://u:{SECRET}@db/mlflow", "mysql://***@db/mlflow"),
    (f"postgresql://db/mlflow?user=u&password={SECRET}", "postgresql://db/mlflow?user=u&password=***"),
    # An unescaped @ or / in the password: more is hidden, never less.
    (f"redis://u:p@{SECRET}/x@h:1/0?db=2", "redis://***@h:1/0?db=2"),
])
def test_every_credential_form_is_redacted(url, expected):
    assert redact_url(url) == expected
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0", "sqlite:////home/u/.sensex/mlflow.db", "http://127.0.0.1:5000",
    "models:/sensex-convlstm-model@production", "https://h/x?keep=1&db=2", None, "",
])
def test_urls_without_credentials_are_unchanged(url):
    assert redact_url(url) == url


def test_free_text_redacts_urls_and_password_pairs():
    text = (f"Error connecting to redis://u:{SECRET}@h:1/0?password={SECRET}: refused;"
            f" dsn host=db password={SECRET} dbname=x; cache key=forecast:1")
    out = redact_text(text)
    assert SECRET not in out
    assert "redis://***@h:1/0?password=***" in out and "password=***" in out
    assert "key=forecast:1" in out  # our own fields stay readable


def test_our_errors_never_carry_a_password():
    error = ModelNotFoundError(f"Run r1 has no model bundle (API request to http://u:{SECRET}@mlflow:5000/api failed)")
    assert SECRET not in str(error) and "http://***@mlflow:5000/api" in str(error)


def test_every_log_record_is_redacted(caplog):
    install_log_redaction()
    install_log_redaction()  # idempotent
    other = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        other.info("connecting to %s", f"redis://h/0?password={SECRET}")
        try:
            raise ConnectionError(f"cannot reach postgresql://u:{SECRET}@db/mlflow")
        except ConnectionError:
            other.exception("tracking store down")
    assert "password=***" in caplog.text and "postgresql://***@db/mlflow" in caplog.text
    assert SECRET not in caplog.text
