"""Market: the live index during the session, then candles with volume and moving averages, the
members by sector, movers."""

from __future__ import annotations

import streamlit as st

from sensex.core.cache import PRICE_TTL
from sensex.core.errors import SensexError
from sensex.interfaces.app import charts, common
from sensex.interfaces.app.charts import change_text, session_text
from sensex.market import clock as market_clock

RANGES = {"6 months": 6, "9 months": 9, "12 months": 12}


def next_session_band(last_date: str) -> dict | None:
    """The range forecast's 80% band for the session after `last_date` (the last candle): from the
    forecast the Forecast page showed, or asked for here; None without a model or a range forecast."""
    forecast = st.session_state.get("forecast")
    if not forecast or forecast.get("as_of") != last_date:
        try:
            forecast = common.backend().predict()
        except SensexError:  # no model, no data: the candles need neither
            return None
    move = (forecast or {}).get("expected_move")
    if not move or forecast.get("as_of") != last_date:
        return None
    return {"date": forecast["target_date"], "low": move["range_low"], "high": move["range_high"]}


def movers_table(rows: list[dict]) -> None:
    """A markdown table: the change as a coloured percentage (no pandas Styler: it pulls in
    matplotlib, 30 MB of the dashboard's memory, for two colours)."""
    if not rows:
        st.caption("None on this session.")
        return
    lines = ["| Symbol | Company | Close | Change |", "|:--|:--|--:|--:|"]
    for row in rows:
        colour = "green" if row["change_pct"] > 0 else "red"
        lines.append(f"| {row['symbol']} | {row['name']} | {row['close']:,.2f} | :{colour}[**{change_text(row['change_pct'])}**] |")
    st.markdown("\n".join(lines))


@st.fragment(run_every=PRICE_TTL)
def live_section() -> None:
    """During the session, the index so far from 5-minute bars; otherwise why there is none.
    Reruns itself every PRICE_TTL seconds: the live quote behind it changes no more often."""
    reading = market_clock.read_clock()
    status = common.attempt(common.market_clock)
    if status is None:
        return
    live = status.get("live")
    if live is None:
        st.caption(f"No live quote: {status['live_reason']}")
        return
    previous = None if live["change"] is None else live["level"] - live["change"]
    if reading.state in ("open", "pre_open") and live["session"] == str(reading.now.date()):
        st.subheader(f"{name} today, live")
        change = "" if live["change"] is None else f"{live['change']:+,.2f} ({change_text(live['change_pct'])})"
        with common.metric_row():
            st.metric(f"{name} at {live['as_of'][11:16]} IST", f"{live['level']:,.2f}", change or None)
            st.metric("Advancing now", live["breadth"]["advancing"])
            st.metric("Declining now", live["breadth"]["declining"])
            st.metric("No quote", live["breadth"]["missing"])
        st.plotly_chart(charts.intraday(live["bars"], previous, name), config=charts.CHART_CONFIG, key="intraday")
        st.caption(f"{len(live['bars'])} bars of {live['interval']} from Yahoo Finance, refreshed at most every"
                   f" {PRICE_TTL / 60:.0f} minutes; live prices are never written to the store (it keeps completed"
                   " sessions only).")
    else:
        st.caption(f"Last live quote: {name} {live['level']:,.2f} at the end of {session_text(live['session'])}"
                   " (the session has closed; the daily candles below are the record).")


name = common.universe().name
st.header(f"Market: {name}")
live_section()
overview = common.attempt(common.market_overview) or {"available": False}
if not overview.get("available"):
    st.info("Not enough index data for a market overview yet: run `sensex data update`.")
    st.stop()

index = overview["index"]
with common.metric_row():  # wraps at 1024 px instead of cutting the level ("86,16…")
    st.metric(f"{name} on {session_text(overview['as_of'])}", f"{index['level']:,.2f}",
              f"{index['change']:+,.2f} ({change_text(index['change_pct'])})")
    st.metric("Advancing members", overview["breadth"]["advancing"])
    st.metric("Declining members", overview["breadth"]["declining"])
    st.metric("Unchanged", overview["breadth"]["unchanged"])

span = st.segmented_control("History", list(RANGES), default="12 months", required=True, key="history_range")
sessions = RANGES[span or "12 months"] * charts.SESSIONS_PER_MONTH
bars = common.attempt(lambda: common.market_history(sessions)) or []
if bars:
    st.subheader(f"{name}, last {len(bars)} sessions")
    st.caption(f"{session_text(bars[0]['date'])} to {session_text(bars[-1]['date'])}: daily candles, the 50- and "
               "200-session moving averages of the close, and the index volume as the source reports it.")
    band = next_session_band(bars[-1]["date"])
    st.plotly_chart(charts.candlestick(bars, name, band), config=charts.CHART_CONFIG, key="candles")
    if band:
        st.caption(f"After the last candle: the range forecast's 80% band for the {session_text(band['date'])} close,"
                   f" {band['low']:,.0f} to {band['high']:,.0f}. It says how far the index may move, never which way.")
else:
    st.info("No index history stored: run `sensex data update`.")

if overview.get("members"):
    st.subheader("Members by sector")
    st.caption("Each box is a member, sized by its index weight and coloured by its change on the session.")
    st.plotly_chart(charts.sector_treemap(overview["members"], name), config=charts.CHART_CONFIG, key="treemap")

# Side by side when both tables fit, one under the other when not (in two columns they overlap at 1024 px).
with st.container(horizontal=True, wrap=True, gap="large"):
    for title, rows in (("Top gainers", overview["top_gainers"]), ("Top losers", overview["top_losers"])):
        with st.container(width="content"):
            st.subheader(title)
            movers_table(rows)

st.subheader("Sectors")
st.plotly_chart(charts.sector_bars(overview["sectors"]), config=charts.CHART_CONFIG, key="sectors")
st.caption(f"Changes are close to close, {session_text(overview['previous_session'])} to {session_text(overview['as_of'])}; "
           "a sector's change is its members' changes weighted by index weight.")
