"""Market: SENSEX candles with volume and moving averages, the members by sector, movers."""

from __future__ import annotations

import streamlit as st

from sensex.app import charts, common
from sensex.app.charts import change_text, session_text

RANGES = {"6 months": 6, "9 months": 9, "12 months": 12}


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


st.header("Market")
overview = common.attempt(common.market_overview) or {"available": False}
if not overview.get("available"):
    st.info("Not enough index data for a market overview yet: run `sensex data update`.")
    st.stop()

index = overview["index"]
cols = st.columns(4)
cols[0].metric(f"SENSEX on {session_text(overview['as_of'])}", f"{index['level']:,.2f}",
               f"{index['change']:+,.2f} ({change_text(index['change_pct'])})")
cols[1].metric("Advancing members", overview["breadth"]["advancing"])
cols[2].metric("Declining members", overview["breadth"]["declining"])
cols[3].metric("Unchanged", overview["breadth"]["unchanged"])

span = st.segmented_control("History", list(RANGES), default="12 months", required=True, key="history_range")
sessions = RANGES[span or "12 months"] * charts.SESSIONS_PER_MONTH
bars = common.attempt(lambda: common.market_history(sessions)) or []
if bars:
    st.subheader(f"SENSEX, last {len(bars)} sessions")
    st.caption(f"{session_text(bars[0]['date'])} to {session_text(bars[-1]['date'])}: daily candles, the 50- and "
               "200-session moving averages of the close, and the index volume as the source reports it.")
    st.plotly_chart(charts.candlestick(bars), config=charts.CHART_CONFIG, key="candles")
else:
    st.info("No index history stored: run `sensex data update`.")

if overview.get("members"):
    st.subheader("Members by sector")
    st.caption("Each box is a member, sized by its index weight and coloured by its change on the session.")
    st.plotly_chart(charts.sector_treemap(overview["members"]), config=charts.CHART_CONFIG, key="treemap")

left, right = st.columns(2)
with left:
    st.subheader("Top gainers")
    movers_table(overview["top_gainers"])
with right:
    st.subheader("Top losers")
    movers_table(overview["top_losers"])

st.subheader("Sectors")
st.plotly_chart(charts.sector_bars(overview["sectors"]), config=charts.CHART_CONFIG, key="sectors")
st.caption(f"Changes are close to close, {session_text(overview['previous_session'])} to {session_text(overview['as_of'])}; "
           "a sector's change is its members' changes weighted by index weight.")
