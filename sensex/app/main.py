"""SENSEX forecaster dashboard: forecast, market overview, monitoring.

Run with `sensex app`. It only reads: forecasts come from the production model through
sensex.serving (or the REST API when SENSEX_API_URL is set).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sensex.app.backend import make_backend
from sensex.calendar import calendar_status
from sensex.errors import SensexError
from sensex.settings import get_settings

st.set_page_config(page_title="SENSEX next-session forecast", layout="wide")


@st.cache_resource
def _backend(home: str, api_url: str | None):
    return make_backend(get_settings())


def backend():
    # Keyed on where the state lives, so a changed SENSEX_HOME or API gets its own backend.
    settings = get_settings()
    return _backend(str(settings.home), settings.api_url)


@st.cache_data(ttl=300)
def _market_overview(home: str) -> dict:
    return backend().market_overview()


@st.cache_data(ttl=300)
def _data_status(home: str) -> dict:
    return backend().data_status()


def market_overview() -> dict:
    return _market_overview(str(get_settings().home))


def data_status() -> dict:
    return _data_status(str(get_settings().home))


def remember(key: str, call) -> None:
    """Keep a button's result across reruns; a SensexError becomes its one-sentence message."""
    try:
        st.session_state[key] = call()
    except SensexError as exc:
        st.session_state[key] = None
        st.error(str(exc))


def synthetic_banner(is_synthetic: bool) -> None:
    if is_synthetic:
        st.warning("SYNTHETIC DATA: these prices come from the built-in simulated market, not from BSE. "
                   "Run `sensex data update --source yfinance` online, or `--source csv`, for real data.")


st.title("SENSEX next-session direction")
try:
    status = data_status()
except SensexError as exc:
    st.error(str(exc))
    st.stop()
synthetic_banner(status.get("source") == "synthetic")
if status.get("stale"):
    st.info(f"The stored data ends on {status.get('last_date')}, before the last completed BSE session.")
calendar_note = calendar_status().get("message")
if calendar_note:
    st.info(calendar_note)

forecast_tab, market_tab, monitor_tab, explain_tab = st.tabs(["Forecast", "Market overview", "Monitoring", "Explanations"])

with forecast_tab:
    st.write("The production model's probability that the SENSEX closes above today's close on the next BSE session.")
    if backend().model_info() is None:
        st.warning("No model in production: either none is trained yet (run `sensex train` then `sensex registry setup`)"
                   " or none passed the promotion gate (`sensex registry setup` says why). Until one passes, the"
                   " forecast below is the logistic-regression baseline's, labelled as such.")
    if st.button("Run Prediction", key="run_prediction", type="primary"):
        remember("forecast", backend().predict)
    forecast = st.session_state.get("forecast")
    if forecast:
        if forecast["model_version"].startswith("baseline:"):
            st.warning(f"BASELINE FORECAST ({forecast['model_version']}): no trained model passed the promotion gate.")
        cols = st.columns(4)
        cols[0].metric("Direction", forecast["direction"])
        cols[1].metric("P(UP)", f"{forecast['probability']:.1%}")
        cols[2].metric("Confidence", forecast["confidence"])
        cols[3].metric("Target date", forecast["target_date"])
        low, high = forecast["interval"]
        st.caption(f"Interval on P(UP): {low:.1%}-{high:.1%}{' · NO CALL' if forecast['no_call'] else ''}"
                   f" · skill {forecast['skill']} · risk (realized volatility): {forecast['risk']}"
                   f" · model {forecast['model_version']} · data to {forecast['as_of']}"
                   f" ({'SYNTHETIC' if forecast.get('synthetic') else forecast['data_source']})"
                   f"{' · STALE' if forecast.get('stale') else ''}")
        st.info(forecast["note"])

with market_tab:
    try:
        overview = market_overview()
    except SensexError as exc:
        st.error(str(exc))
        overview = {"available": False}
    if overview.get("available"):
        index = overview["index"]
        cols = st.columns(3)
        cols[0].metric(f"SENSEX ({overview['as_of']})", f"{index['level']:,.2f}", f"{index['change_pct']:+.2f}%")
        cols[1].metric("Advancing", overview["breadth"]["advancing"])
        cols[2].metric("Declining", overview["breadth"]["declining"])
        left, right = st.columns(2)
        left.subheader("Top gainers")
        left.dataframe(pd.DataFrame(overview["top_gainers"]), hide_index=True)
        right.subheader("Top losers")
        right.dataframe(pd.DataFrame(overview["top_losers"]), hide_index=True)
        st.subheader("Sectors")
        st.bar_chart(pd.DataFrame(overview["sectors"]).set_index("sector"))
    else:
        st.write("No market data yet: run `sensex data update`.")

with monitor_tab:
    health = backend().health()
    st.subheader(f"Model server: {health['status']}")
    st.json(health["checks"])
    cache_stats = health.get("detail", {}).get("cache")
    if isinstance(cache_stats, dict):
        st.caption(f"Cache ({cache_stats.get('backend')}): {cache_stats.get('hits')} hits, "
                   f"{cache_stats.get('misses')} misses, hit rate {cache_stats.get('hit_rate')}")
    st.subheader("Data pipeline")
    stats = status["statistics"]
    st.write(f"Status **{status['status']}**, {stats['valid_symbols']}/{stats['total_symbols']} members valid "
             f"({stats['data_coverage']}% coverage), last session {status['last_date']}, source {status['source']}.")
    st.subheader("Prediction history")
    history = backend().predictions(50)
    if history:
        st.dataframe(pd.DataFrame([{**h["prediction"], "as_of": h["as_of"], "target_date": h["target_date"],
                                    "model_version": h["model_version"], "realized": h["realized"]} for h in history]),
                     hide_index=True)
    else:
        st.write("No forecasts logged yet.")

with explain_tab:
    st.write("What moved the latest forecast: each group of inputs is removed in turn (occlusion) and the change "
             "in P(UP) is shown. Positive pushes toward UP. This explains the model, not the market.")
    if st.button("Explain the latest forecast", key="explain"):
        remember("explanation", backend().explain)
    explanation = st.session_state.get("explanation")
    if explanation:
        st.caption(f"P(UP) {explanation['probability']:.1%} from data to {explanation['as_of']}, model v{explanation['model_version']}")
        left, right = st.columns(2)
        left.subheader("Indicator families")
        left.bar_chart(pd.DataFrame(explanation["families"]).set_index("group")["delta"])
        right.subheader("Members")
        right.bar_chart(pd.DataFrame(explanation["members"]).set_index("symbol")["delta"])
