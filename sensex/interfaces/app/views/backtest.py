"""Backtest: what trading the walk-forward's out-of-sample forecasts would have made after costs,
beside holding the index (`sensex backtest --walk-forward`, computed here unlogged and cached per
forecasts file, rule and costs)."""

from __future__ import annotations

import streamlit as st

from sensex.backtest.report import walk_forward_command
from sensex.interfaces.app import backtest_charts, charts, common
from sensex.interfaces.app.backtest_charts import pct_text, ratio_text, rupees_text

RULES = {
    "long_flat": "long when P(UP) ≥ 50%, else flat",
    "long_short": "long when P(UP) ≥ 50%, else short",
    "threshold:0.55": "long when P(UP) ≥ 55%, else flat",
    "skip_no_call": "long_flat, flat on no-call sessions",
    "long_short+skip_no_call": "long_short, flat on no-call sessions",
}
MODES = {"close": "close: trade at the close", "preopen": "pre-open: trade at the open"}
COSTS = {"default": "Indian costs", "zero": "zero costs"}

shown = common.universe()
name = shown.name
st.header(f"Backtest: the forecasts traded, against holding the {name}")
st.caption("Each session's P(UP) from the walk-forward (`sensex evaluate --walk-forward`): a model refit every few "
           "months on the sessions before each block, so every forecast here is out of sample. A rule turns it into "
           f"a position in {name} futures; the account pays India's dated charges and slippage on every fill.")

files = common.attempt(common.backtest_forecasts)
if files is None:
    st.stop()
for damaged in (f for f in files if f.get("error")):
    st.warning(damaged["error"])
readable = [f for f in files if not f.get("error")]
if not readable:
    st.info(f"No walk-forward forecasts are stored for the {name} yet: `{walk_forward_command('close', None if shown.is_default else shown.spec)}`"
            " stores them, and this page then trades them.")
    st.stop()

modes = [m for m in MODES if any(f["mode"] == m for f in readable)]
# The controls side by side, wrapping onto a second line in a narrow window rather than cutting the rule's name.
with st.container(horizontal=True, wrap=True, vertical_alignment="bottom", gap="medium"):
    mode = st.segmented_control("Mode", modes, format_func=lambda m: MODES[m].split(":")[0], default=modes[0],
                                required=True, key="backtest_mode", help=" · ".join(MODES[m] for m in modes))
    mode = mode or modes[0]
    rule = st.selectbox("Rule", list(RULES), format_func=lambda r: f"{r}: {RULES[r]}", key="backtest_rule", width=380)
    costs = st.segmented_control("Costs", list(COSTS), format_func=COSTS.get, default="default", required=True,
                                 key="backtest_costs", help="Indian costs: the shipped costs.yaml (dated STT, stamp "
                                 "duty, SEBI fee, brokerage, GST) and 2 bp slippage per fill. Zero: all of them at 0.")
    costs = costs or "default"
    candidates = list(reversed([f for f in readable if f["mode"] == mode]))  # the one written last first
    refit = st.selectbox("Refit every", [f["refit_months"] for f in candidates], format_func=lambda m: f"{m} months",
                         key=f"backtest_refit_{mode}", width=150)
chosen = next(f for f in candidates if f["refit_months"] == refit)

view = common.attempt(lambda: common.backtest(chosen, rule, costs == "zero"))
if view is None:
    st.stop()

synthetic = bool(view["source"].get("synthetic") or st.session_state.get("data_summary", {}).get("synthetic"))
with st.container(horizontal=True):
    if synthetic:
        st.badge("SYNTHETIC data", color="orange", icon=":material/science:")
    st.badge(f"mode: {view['mode']}", color="blue")
    st.badge(f"rule: {view['rule']}", color="blue")
    st.badge("zero costs" if view["zero_costs"] else "after costs", color="gray" if view["zero_costs"] else "blue")
st.markdown(f"**{backtest_charts.verdict(view)}**")
if synthetic:
    st.caption("Backtested on SYNTHETIC data: the prices and the forecasts' inputs were generated, not traded, so "
               "these figures prove nothing about markets.")

strategy, held = view["strategy"], view["buy_and_hold"]
difference = view["sharpe_difference"]
with common.metric_row():
    st.metric("Strategy CAGR", pct_text(strategy["cagr"]),
              None if strategy["cagr"] is None or held["cagr"] is None else
              f"{(strategy['cagr'] - held['cagr']) * 100:+.1f} pp vs holding")
    st.metric("Holding CAGR", pct_text(held["cagr"]))
    st.metric("Sharpe difference", ratio_text(difference["value"]),
              help=f"Strategy minus buy and hold; {difference['level']:.0%} block-bootstrap interval "
                   f"{backtest_charts.interval_text(difference['interval']) or 'n/a (too few sessions)'}.")
    st.metric("Strategy costs", rupees_text(strategy["costs"]["rupees"]),
              help=f"{pct_text(strategy['costs']['share_of_gross_profit'], signed=False)} of its gross profit.")

st.subheader("Equity and drawdown")
st.plotly_chart(backtest_charts.equity_and_drawdown(view), config=charts.CHART_CONFIG, key="backtest_equity")
st.caption(f"₹{view['capital'] / 1e5:,.0f} lakh on {view['window']['start']}, every cost paid; log scale, so equal "
           "distances are equal percentage moves. Beneath: how far each curve stands below its own running peak."
           + (" The dashed line is the rule's positions over the opening gap, which a pre-open forecast sees and no "
              "one acting at the open can earn: it is NOT TRADABLE." if view.get("gap_not_tradable") else ""))

st.subheader("Monthly returns of the strategy")
st.plotly_chart(backtest_charts.monthly_heatmap(view["monthly"]), config=charts.CHART_CONFIG, key="backtest_monthly")

st.subheader("Statistics")
st.dataframe(backtest_charts.statistics_table(view), hide_index=True, height="content")
st.caption(f"Intervals: {difference['level']:.0%} moving-block bootstrap ({difference['block']}-session blocks, "
           f"{difference['resamples']} resamples). Sharpe difference, strategy minus buy and hold: "
           f"{ratio_text(difference['value'])} {backtest_charts.interval_text(difference['interval']) or '(no interval)'}."
           " Always long holds every session with the strategy's fills and rolls: the cost of trading daily without "
           "a forecast.")

st.subheader("What the costs took")
if view["zero_costs"]:
    st.caption("Nothing: this backtest sets every charge and the slippage to zero. Choose Indian costs to see them.")
else:
    st.plotly_chart(backtest_charts.cost_bars(view), config=charts.CHART_CONFIG, key="backtest_costs_chart")
    share = strategy["costs"]["share_of_gross_profit"]  # None without a gross profit
    st.caption(f"The strategy paid {rupees_text(strategy['costs']['rupees'])} over {strategy['trades']:,} trades "
               f"({strategy['orders']:,} orders, rolls included)"
               + (f", {pct_text(share, signed=False)} of its gross profit" if share is not None else
                  ", with no gross profit to take them from")
               + f"; buy and hold paid {rupees_text(held['costs']['rupees'])}.")

st.subheader("Settings used")
st.markdown("  \n".join(backtest_charts.settings_lines(view)))
