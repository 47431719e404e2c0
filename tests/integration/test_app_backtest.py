"""The dashboard's Backtest page (Streamlit AppTest) on a home where a quick synthetic walk-forward
stored its forecasts: the verdict, equity and drawdown, monthly returns, costs, the statistics with
intervals and the settings used, labelled synthetic, the same figures as `sensex backtest`; the result
cached per forecasts file, rule and costs; the same page through the REST API (`GET /backtest`); and
one sentence naming the command when no walk-forward forecasts are stored."""

from __future__ import annotations

import shutil

import pytest
from app_pages import fresh_app_caches, run_app, texts, use_home, visit  # noqa: F401 - fresh_app_caches is autouse
from streamlit.testing.v1 import AppTest

from sensex.core.settings import get_settings, load_settings
from sensex.interfaces.app import backtest_charts
from sensex.interfaces.app.backend import LocalBackend

pytestmark = pytest.mark.integration
BACKTEST = "views/backtest.py"
WALK_FORWARD_CONFIG = ("model: {hidden: 4, projection: 4, dropout: 0.0}\n"
                       "train: {epochs: 1, patience: 1, max_train_windows: 200, valid_sessions: 60, batch_size: 32}\n")


@pytest.fixture(scope="module")
def walked_home(tmp_path_factory, trained_home):
    """A copy of the trained home in which a two-block walk-forward over 2021 stored its forecasts
    (as `sensex evaluate --walk-forward --refit-months 6` does)."""
    from sensex.jobs import commands

    root = tmp_path_factory.mktemp("app-backtest")
    home = root / "home"
    shutil.copytree(trained_home["settings"].home, home)
    config = root / "wf.yaml"
    config.write_text(WALK_FORWARD_CONFIG)
    settings = load_settings({"SENSEX_HOME": str(home)})
    commands.walk_forward(settings, "2021-01-01", "2021-12-31", preset=str(config), refit_months=6)
    return home


@pytest.fixture
def backtest_home(walked_home, monkeypatch):
    use_home(monkeypatch, walked_home)
    return walked_home


def backtest_page() -> AppTest:
    return visit(run_app(timeout=120), BACKTEST)


def cli_summary(home, **options) -> dict:
    from sensex.backtest.run import backtest

    return backtest(load_settings({"SENSEX_HOME": str(home)}), log_run=False, **options)


def test_the_backtest_page_shows_the_verdict_curves_statistics_and_settings(backtest_home):
    at = backtest_page()
    expected = cli_summary(backtest_home)
    difference = expected["sharpe_difference"]
    low, high = difference["interval"]
    verdict = texts(at.markdown)
    assert "long_flat" in verdict and "holding the SENSEX after costs: Sharpe difference" in verdict
    assert f"{difference['value']:+.2f} [{low:+.2f}, {high:+.2f}]" in verdict  # the same figure as `sensex backtest`
    assert "SYNTHETIC data" in verdict and "SYNTHETIC data" in texts(at.caption)  # labelled synthetic
    shown = {m.label: m.value for m in at.metric}
    assert shown["Sharpe difference"] == f"{difference['value']:+.2f}"
    assert shown["Strategy CAGR"] == f"{expected['strategy']['cagr']:+.1%}"
    assert shown["Strategy costs"] == backtest_charts.rupees_text(expected["strategy"]["costs"]["rupees"])

    figures = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert len(figures) == 3  # equity and drawdown, monthly returns, costs
    equity = next(spec for spec in figures if "lakh (log scale)" in spec)
    assert '"type":"log"' in equity.replace(" ", "") and "drawdown" in equity and "buy and hold" in equity
    assert any('"type":"heatmap"' in spec.replace(" ", "") for spec in figures)
    assert any("securities transaction tax" in spec for spec in figures)

    table = at.dataframe[0].value
    assert list(table.columns) == ["statistic", "strategy (long_flat)", "buy and hold", "always long (same fills)"]
    sharpe = table.set_index("statistic").loc["Sharpe [90% interval]", "strategy (long_flat)"]
    assert sharpe.startswith(f"{expected['strategy']['sharpe']:+.2f} [")  # the Sharpe ratio with its interval
    settings = texts(at.markdown)
    assert "long when P(UP) >= 0.5, else flat" in settings and "market-on-close" in settings
    assert "costs.yaml" in settings and "refit every 6 months" in settings
    assert not at.error


def test_rule_and_costs_are_selectable_and_each_result_is_cached(backtest_home, monkeypatch):
    calls = []
    real = LocalBackend.backtest

    def counted(self, mode, rule, zero_costs, refit_months):
        calls.append((mode, rule, zero_costs, refit_months))
        return real(self, mode, rule, zero_costs, refit_months)

    monkeypatch.setattr(LocalBackend, "backtest", counted)
    at = backtest_page()
    assert calls == [("close", "long_flat", False, 6)]
    at.selectbox(key="backtest_rule").select("long_short").run()
    at.segmented_control(key="backtest_costs").set_value("zero").run()
    assert not at.exception
    expected = cli_summary(backtest_home, rule="long_short", zero_costs=True)
    verdict = texts(at.markdown)
    assert "long_short" in verdict and "holding the SENSEX with zero costs" in verdict
    assert f"{expected['sharpe_difference']['value']:+.2f}" in verdict
    assert {m.label: m.value for m in at.metric}["Strategy costs"] == "₹0"
    assert len(at.get("plotly_chart")) == 2 and "Nothing: this backtest sets every charge" in texts(at.caption)
    assert "zero: every charge and the slippage at 0" in verdict
    # Back to choices already made: read from the cache, not computed again.
    at.segmented_control(key="backtest_costs").set_value("default").run()
    at.selectbox(key="backtest_rule").select("long_flat").run()
    assert not at.exception
    assert calls == [("close", "long_flat", False, 6), ("close", "long_short", False, 6),
                     ("close", "long_short", True, 6)]


def test_the_track_record_page_shows_the_simulated_record_apart_from_the_live_one(backtest_home):
    from sensex.backtest.report import simulated_record_view
    from sensex.market.universe import load_universe

    at = visit(run_app(timeout=120), "views/track_record.py")
    expected = simulated_record_view(load_settings({"SENSEX_HOME": str(backtest_home)}), load_universe("sensex"), "close")
    values = [(m.label, m.value) for m in at.metric]
    start = values.index(("Sessions (simulated)", f"{expected['n']:,}"))
    following = dict(values[start:start + 3])
    assert following["Hit rate"] == f"{expected['hit_rate']:.1%}" and following["Brier"] == f"{expected['brier']:.4f}"
    assert "SIMULATED: nobody issued these forecasts" in texts(at.caption)
    assert "On SYNTHETIC data: this record proves nothing about markets." in texts(at.caption)
    low, high = expected["brier_minus_always_up_interval"]
    assert f"90% interval {low:+.4f} to {high:+.4f}" in texts(at.markdown)
    assert expected["source"]["file"] == "sensex_close_refit6m.parquet"
    assert any(c.proto.id and "simulated_reliability" in c.proto.id for c in at.get("plotly_chart"))


def test_without_walk_forward_forecasts_the_page_names_the_command(trained_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(trained_home["settings"].home, home, ignore=shutil.ignore_patterns("forecasts"))
    use_home(monkeypatch, home)
    at = backtest_page()
    info = [i.value for i in at.info]
    assert len(info) == 1 and "No walk-forward forecasts are stored for the SENSEX yet" in info[0]
    assert "`sensex evaluate --walk-forward --start YYYY-MM-DD --end YYYY-MM-DD`" in info[0]
    assert not at.get("plotly_chart") and not at.metric and not at.error


def test_the_backtest_route_and_the_page_through_the_rest_api(backtest_home, monkeypatch):
    import subprocess
    import sys
    import time

    import httpx
    from conftest import free_port
    from fastapi.testclient import TestClient

    from sensex.interfaces.api import create_app

    with TestClient(create_app(load_settings({"SENSEX_HOME": str(backtest_home)}))) as client:
        listed = client.get("/backtest/forecasts").json()["forecasts"]
        assert [(f["mode"], f["refit_months"], f["synthetic"]) for f in listed] == [("close", 6, True)]
        body = client.get("/backtest", params={"rule": "long_short", "costs": "zero"}).json()
        assert body["rule"] == "long_short" and body["zero_costs"] and body["source"]["sha256"] == listed[0]["sha256"]
        assert len(body["curves"]["dates"]) == len(body["curves"]["strategy"]) == body["window"]["sessions"] + 1
        assert body["monthly"][0]["month"] == "2021-01"
        refused = client.get("/backtest", params={"rule": "sometimes"})
        assert refused.status_code == 422 and "Unknown rule 'sometimes'" in refused.json()["detail"]
        # The walk-forward stored the range forecast's expected move: positions sized by it.
        sized = client.get("/backtest", params={"rule": "vol_target:0.1"})
        assert sized.status_code == 200 and sized.json()["rule"] == "long_flat+vol_target:0.1"
        record = client.get("/backtest/record").json()
        assert record["simulated"] is True and record["source"]["synthetic"] is True and record["n"] > 200
        assert record["years"][0]["year"] == 2021 and record["mode"] == "close"
        assert client.get("/backtest/record", params={"mode": "preopen"}).status_code == 422  # none stored: a sentence
        missing = client.get("/backtest", params={"refit_months": 3})
        assert missing.status_code == 422 and "refit every 3 months" in missing.json()["detail"]

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the API did not start within 90 s")
        monkeypatch.setenv("SENSEX_API_URL", url)
        get_settings.cache_clear()
        at = backtest_page()
        difference = cli_summary(backtest_home)["sharpe_difference"]
        assert f"Sharpe difference {difference['value']:+.2f}" in texts(at.markdown)
        assert len(at.get("plotly_chart")) == 3 and not at.error
    finally:
        process.terminate()
        process.wait(timeout=30)
