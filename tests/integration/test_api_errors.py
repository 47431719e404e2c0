"""Every API failure is a declared status with a one-sentence reason, never a 500; the docs work
offline; the OpenAPI schema is what the server does (schemathesis, in-process)."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import read_only
from fastapi.testclient import TestClient

from sensex.core.cache import get_cache
from sensex.core.settings import load_settings
from sensex.interfaces.api import MAX_BODY_BYTES, create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(trained_home, tmp_path_factory):
    """A private copy of the trained home: these tests append to its prediction log."""
    copy = tmp_path_factory.mktemp("api-errors") / "home"
    shutil.copytree(trained_home["settings"].home, copy, symlinks=True)
    return load_settings({"SENSEX_HOME": str(copy)})


@pytest.fixture(scope="module")
def app(home):
    # The process-wide memory cache may hold this forecast from another copy of the trained home
    # (same model, same data, same key): served from the cache it is not logged again.
    get_cache(home).clear()
    app = create_app(home)
    with TestClient(app):  # runs the lifespan: the model is loaded once for the module
        yield app


@pytest.fixture
def client(app):
    return TestClient(app)


def assert_reason(response, status: int, says: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["detail"], str) and says in body["detail"], body
    assert body["error"]
    return body


@pytest.mark.parametrize(("body", "says"), [
    ({"as_of": "2026-02-30"}, "as_of: as_of 2026-02-30 is not a real date: February 2026 has 28 days."),
    ({"as_of": "2026-13-01"}, "the month must be 01 to 12"),
    ({"as_of": "01/02/2026"}, "is not a date in YYYY-MM-DD form"),
    ({"as_of": "yesterday"}, "is not a date in YYYY-MM-DD form"),
    ({"as_of": 20211215}, "as_of: Input should be a valid string"),
    ({"asof": "2021-12-15"}, "unknown field 'asof'"),
    ({"as_of": "2021-12-15", "mode": "close", "extra": 1}, "unknown field 'extra'"),
    ([1, 2], "Input should be a valid dictionary"),
])
def test_bad_predict_bodies_are_422_with_a_reason(client, body, says):
    body = assert_reason(client.post("/predict", json=body), 422, says)
    assert body["error"] == "RequestValidationError" and body["errors"]


def test_malformed_json_is_422(client):
    response = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert_reason(response, 422, "Invalid request")
    # Bytes that are not UTF-8 make FastAPI answer 400, a status the schema does not declare.
    response = client.post("/predict", content=b"^\x01\xff7", headers={"content-type": "application/json"})
    assert_reason(response, 422, "The request body is not JSON")


def test_unknown_routes_and_methods_keep_their_status_with_a_reason(client):
    assert_reason(client.get("/nosuch"), 404, "Not Found")
    assert_reason(client.delete("/predict"), 405, "Method Not Allowed")


@pytest.mark.parametrize(("as_of", "says"), [
    ("2026-13-01", "as_of 2026-13-01 is not a real date"),
    ("2026-02-30", "February 2026 has 28 days"),
    ("31-12-2021", "is not a date in YYYY-MM-DD form"),
])
def test_bad_explain_dates_are_422(client, as_of, says):
    assert_reason(client.get("/explain", params={"as_of": as_of}), 422, says)


@pytest.mark.parametrize(("as_of", "says"), [
    ("1990-01-01", "as_of 1990-01-01 is before the first stored session 2018-06-01"),
    ("2099-01-01", "as_of 2099-01-01 is after the next session"),
    ("2022-06-01", "after the last stored session 2021-12-31"),
])
def test_as_of_the_store_cannot_answer_is_422_on_predict_and_explain(client, as_of, says):
    assert_reason(client.post("/predict", json={"as_of": as_of}), 422, says)
    assert_reason(client.get("/explain", params={"as_of": as_of}), 422, says)


def test_a_stored_as_of_forecasts_and_is_logged(client):
    response = client.post("/predict", json={"as_of": "2021-12-14"})
    assert response.status_code == 200
    assert response.json()["as_of"] == "2021-12-14" and response.json()["logged"] is True


def test_bad_limit_is_422_with_a_reason(client):
    assert_reason(client.get("/predictions", params={"limit": 0}), 422, "limit: Input should be greater than or equal to 1")


def test_a_10_mb_body_is_413(client):
    big = b'{"as_of": "' + b"9" * 10_000_000 + b'"}'
    assert_reason(client.post("/predict", content=big, headers={"content-type": "application/json"}), 413,
                  f"over {MAX_BODY_BYTES} bytes")


def test_a_large_chunked_body_without_length_is_413(client):
    def chunks():
        for _ in range(40):
            yield b"x" * 4096

    assert_reason(client.post("/predict", content=chunks(), headers={"content-type": "application/json"}), 413, "bytes")


def test_root_points_to_the_docs(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/docs"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_only_local_assets_and_they_load(client, page):
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text) + re.findall(r"""url:\s*'([^']+)'""", html.text)
    urls += re.findall(r"""spec-url=["']([^"']+)["']""", html.text)
    assert urls, html.text
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url
    assert "cdn" not in html.text.lower() and "googleapis" not in html.text


def test_the_docs_pages_call_nothing_outside(client):
    assert '"validatorUrl": null' in client.get("/docs").text  # Swagger UI's online validator badge
    # ReDoc's footer loads Redocly's logo from a CDN: the page's policy allows local images only.
    assert client.get("/redoc").headers["content-security-policy"] == "img-src 'self' data: blob:"


def test_metrics_are_documented_as_prometheus_text(client):
    operation = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain") and "sensex_predictions_total" in response.text


def test_every_error_status_a_route_returns_is_declared(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"413", "422", "503"} <= set(paths["/predict"]["post"]["responses"])
    assert {"422", "503"} <= set(paths["/explain"]["get"]["responses"])
    assert "503" in paths["/health"]["get"]["responses"]


def test_read_only_home_serves_the_forecast_and_says_it_was_not_logged(home, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(home.home, copy, symlinks=True)
    settings = load_settings({"SENSEX_HOME": str(copy)})
    with TestClient(create_app(settings)) as client:
        client.get("/health")  # the model is downloaded into the cache while the home is writable
        with read_only(copy):
            response = client.post("/predict", json={"as_of": "2021-12-13"})
    assert response.status_code == 200 and response.json()["logged"] is False


@pytest.mark.slow
def test_schemathesis_finds_no_contract_violation(app):
    """Every operation, positive and negative examples: no 500, no undeclared status, bodies and
    content types as documented, malformed input rejected. A schema-valid as_of the stored data
    cannot answer for is a documented 422, and `mode: preopen` is a documented 503 here (this home
    has a production model for the close mode only), so those checks accept 422 and 503."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.config import SchemathesisConfig
    from schemathesis.generation import GenerationMode

    config = SchemathesisConfig.from_dict({"checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "422", "503"]},
        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures, checked = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate()

            try:
                check()
            except Unsatisfiable:  # an operation without parameters has no negative example
                continue
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report all
                inner = "; ".join(repr(e)[:800] for e in getattr(exc, "exceptions", ()))  # a group's members
                failures.append(f"{operation.label} ({mode}): {exc} {inner}")
            checked += 1
    assert checked >= 12, checked  # 9 operations with positive examples, the 3 with parameters negative too
    assert not failures, "\n\n".join(failures)
