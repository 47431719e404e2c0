"""Settings from the environment: typed, validated, one sentence on a bad value, nothing at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sensex.core.errors import ConfigError
from sensex.core.settings import SOURCES, Settings, get_settings, load_settings


def test_defaults_derive_from_home(tmp_path):
    settings = load_settings({"SENSEX_HOME": str(tmp_path / "h")})
    home = (tmp_path / "h").resolve()
    assert settings.home == home
    assert settings.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.data_source == "auto"
    assert settings.csv_dir is None and settings.redis_url is None and settings.api_url is None
    assert settings.redis_prefix == "sensex:"
    assert (settings.store_dir, settings.logs_dir, settings.artifacts_dir, settings.cache_dir, settings.holidays_dir) == (
        home / "store", home / "logs", home / "mlartifacts", home / "cache", home / "holidays")


def test_every_variable_is_read_and_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({
        "SENSEX_HOME": "rel-home", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "SENSEX_DATA_SOURCE": "csv", "SENSEX_CSV_DIR": "prices", "SENSEX_REDIS_URL": "redis://127.0.0.1:6379/0",
        "SENSEX_REDIS_PREFIX": "other:", "SENSEX_API_URL": "http://127.0.0.1:8000",
    })
    assert settings.home == tmp_path.resolve() / "rel-home"
    assert settings.csv_dir == tmp_path.resolve() / "prices"
    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert settings.data_source == "csv"
    assert settings.redis_url == "redis://127.0.0.1:6379/0" and settings.redis_prefix == "other:"
    assert settings.api_url == "http://127.0.0.1:8000"


def test_a_given_mapping_ignores_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEX_REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("SENSEX_DATA_SOURCE", "not-a-source")
    settings = load_settings({"SENSEX_HOME": str(tmp_path)})
    assert settings.redis_url is None and settings.data_source == "auto"


def test_the_environment_and_a_mapping_give_the_same_settings(tmp_path, monkeypatch):
    values = {"SENSEX_HOME": str(tmp_path), "SENSEX_DATA_SOURCE": "synthetic", "SENSEX_CSV_DIR": "",
              "SENSEX_REDIS_URL": "redis://127.0.0.1:6379/1"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from_environment = load_settings()
    assert type(from_environment) is Settings
    assert from_environment == load_settings(values)
    assert from_environment.csv_dir is None  # empty means unset, as before


def test_settings_are_frozen_and_hashable(tmp_path):
    settings = load_settings({"SENSEX_HOME": str(tmp_path)})
    with pytest.raises(ValueError):
        settings.home = Path("/elsewhere")
    assert hash(settings) == hash(load_settings({"SENSEX_HOME": str(tmp_path)}))


def test_get_settings_is_cached_until_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(tmp_path / "one"))
    get_settings.cache_clear()
    first = get_settings()
    monkeypatch.setenv("SENSEX_HOME", str(tmp_path / "two"))
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().home == (tmp_path / "two").resolve()


@pytest.mark.parametrize("value", ["x", "yahoo", "CSV", " csv"])
def test_an_unknown_source_is_one_sentence(tmp_path, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({"SENSEX_HOME": str(tmp_path), "SENSEX_DATA_SOURCE": value})
    assert str(raised.value) == (
        f"SENSEX_DATA_SOURCE={value!r} is not a source: use one of auto, yfinance, csv, synthetic.")
    assert SOURCES == ("auto", "yfinance", "csv", "synthetic")


def test_an_unknown_source_in_the_environment_is_one_sentence(monkeypatch):
    monkeypatch.setenv("SENSEX_DATA_SOURCE", "x")
    with pytest.raises(ConfigError, match=r"^SENSEX_DATA_SOURCE='x' is not a source: use one of auto, yfinance, csv, synthetic\.$"):
        load_settings()


def test_an_unusable_path_is_one_sentence_naming_the_variable():
    with pytest.raises(ConfigError) as raised:
        load_settings({"SENSEX_HOME": "/tmp/a\x00b"})
    message = str(raised.value)
    assert message.startswith("SENSEX_HOME=") and "\n" not in message and message.endswith("fix or unset it.")


def test_nothing_happens_at_import(tmp_path):
    """Importing the module neither reads nor validates the environment."""
    code = ("import os; os.environ['SENSEX_DATA_SOURCE'] = 'bad'; import sensex.core.settings as s; "
            "print(s.get_settings.cache_info().currsize)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
