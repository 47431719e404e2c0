"""Requests no client should send: NaN and Infinity (JSON has neither, Python's parser takes both),
lone surrogates, odd JSON shapes. Each is a 422 in JSON with a sentence, never a 500."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from sensex.core.cache import get_cache
from sensex.core.settings import load_settings
from sensex.interfaces.api import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(trained_home, tmp_path_factory):
    copy = tmp_path_factory.mktemp("api-hostile") / "home"
    shutil.copytree(trained_home["settings"].home, copy, symlinks=True)
    settings = load_settings({"SENSEX_HOME": str(copy)})
    get_cache(settings).clear()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("body", [
    b'{"as_of": NaN}', b'{"as_of": Infinity}', b'{"as_of": -Infinity}', b'{"mode": NaN}',
    b'{"as_of": "2021-12-15", "extra": NaN}', b'{"as_of": [NaN, Infinity]}', b'{"as_of": {"x": -Infinity}}',
    b"NaN", b"[NaN]", b'{"as_of": 1e400}', b'{"as_of": "\\ud800"}', b'{"\\udfff": 1}',
])
def test_non_finite_numbers_and_lone_surrogates_are_a_422_in_json(client, body):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()
    assert detail["error"] == "RequestValidationError" and detail["detail"].startswith("Invalid request")


def test_a_non_finite_number_is_named_in_the_sentence(client):
    response = client.post("/predict", content=b'{"as_of": NaN}', headers={"content-type": "application/json"})
    assert "NaN" in response.json()["detail"]


@pytest.mark.parametrize("url", [
    "/predictions?limit=NaN", "/drift?sessions=Infinity", "/explain?as_of=NaN", "/market/history?sessions=-Infinity",
    "/members?as_of=%ED%B3%BF", "/explain?as_of=%F0%28%8C%28", "/predictions?limit=1e400",
])
def test_non_finite_and_undecodable_query_values_are_a_422(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("Invalid request")
