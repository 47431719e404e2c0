"""SENSEX forecaster dashboard: Forecast, Market, Track record, Explanations, Members, Backtest, Monitoring.

Run with `sensex app`. It only reads: forecasts come from the production model through
sensex.serving (or the REST API when SENSEX_API_URL is set). Each page is a file under
`views/`; this script draws what every page shares (the synthetic-data banner, the calendar
note, the market-status chip, the universe selector in the sidebar) and runs the page chosen in
the top navigation, for the universe chosen.
"""

from __future__ import annotations

import streamlit as st

from sensex.core.advice import update_advice
from sensex.interfaces.app import charts, clock_chip, common, universe_picker
from sensex.market.calendar import calendar_status

shown = common.universe()  # the selector's choice from the last run, else the started universe
st.set_page_config(page_title=f"{shown.name} next-session forecast", page_icon="📈", layout="wide")
universe_picker.show()
shown = common.universe()

summary = common.attempt(lambda: common.backend().data_summary())
if summary is None:
    st.stop()
if not summary["available"]:
    flag = "" if shown.is_default else f" --universe {shown.spec}"
    st.error(f"No {shown.name} data stored yet: the store has no {shown.index_symbol} index rows."
             f" {update_advice(flag, verb='Run')}; offline without CSV files it builds the synthetic market.")
    st.stop()
st.session_state["data_summary"] = summary
if summary["synthetic"]:
    st.warning("SYNTHETIC DATA: these prices come from the built-in simulated market, not from the exchange. "
               "Run `sensex data update --source yfinance` online, or `--source csv`, for real data.",
               icon=":material/science:")
calendar_note = calendar_status().get("message")
if calendar_note:
    st.info(calendar_note)

pages = [
    st.Page("views/forecast.py", title="Forecast", icon=":material/trending_up:", default=True),
    st.Page("views/market.py", title="Market", icon=":material/candlestick_chart:"),
    st.Page("views/track_record.py", title="Track record", icon=":material/fact_check:"),
    st.Page("views/explanations.py", title="Explanations", icon=":material/insights:"),
    st.Page("views/members.py", title="Members", icon=":material/grid_view:"),
    st.Page("views/backtest.py", title="Backtest", icon=":material/query_stats:"),
    st.Page("views/monitoring.py", title="Monitoring", icon=":material/monitor_heart:"),
]
page = st.navigation(pages, position="top")
clock_chip.show()
if summary["stale"] and page.title not in ("Forecast", "Monitoring"):  # those two say it in their own cards
    st.badge(charts.age_text(summary["days_old"], summary["sessions_behind"]), color="red", icon=":material/warning:")
page.run()
common.release_memory()
