"""What the dashboard's AppTest tests share: the app's path, empty caches around each test, a
home to read, and running the app or one of its pages with no exception on screen.

A test module takes the caches fixture by importing it (`from app_pages import fresh_app_caches`):
it is autouse, so it then runs around each test of that module only.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from sensex.core.cache import get_cache
from sensex.core.settings import get_settings

APP = find_spec("sensex.interfaces.app.main").origin  # the path only: importing would run the app


def clear_caches() -> None:
    st.cache_resource.clear()
    st.cache_data.clear()
    get_cache().clear()


@pytest.fixture(autouse=True)
def fresh_app_caches():
    """Empty Streamlit caches and an empty forecast cache before and after each test: the backend,
    its forecasts and their staleness belong to one home and one clock."""
    clear_caches()
    yield
    clear_caches()


def use_home(monkeypatch, home: Path) -> None:
    """Point the app (and `get_settings`) at `home` for this test."""
    monkeypatch.setenv("SENSEX_HOME", str(home))
    get_settings.cache_clear()


def run_app(timeout: int = 90) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def texts(elements) -> str:
    return " ".join(e.value for e in elements)
