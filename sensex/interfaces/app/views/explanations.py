"""Explanations: what moved the latest forecast, by occlusion, in percentage points."""

from __future__ import annotations

import streamlit as st

from sensex.interfaces.app import charts, common
from sensex.interfaces.app.charts import NOISE_FLOOR_PP, probability_text, session_text

st.header("Explanations")
st.caption("Each group of inputs is removed in turn (occlusion): its contribution is P(UP) with it minus P(UP) "
           "without it, in percentage points (pp); positive pushes toward UP. Shapley values share each effect "
           "fairly among families that act together. This explains the model, not the market.")
if st.button("Explain the latest forecast", key="explain", help="Recompute the explanation from the stored data."):
    common.forget_explanation()
forecast = common.latest_forecast(missing_model="warning")
explanation = common.attempt(lambda: common.explanation(forecast), missing_model="silent") if forecast else None
if explanation:
    # One P(UP) everywhere: the forecast's own figure, which the explanation's base equals.
    shown = forecast if forecast["as_of"] == explanation["as_of"] else explanation
    st.caption(f"P(UP) {probability_text(shown['probability'])} from data to {session_text(explanation['as_of'])}, "
               f"model v{explanation['model_version']}.")
    largest = max(abs(r["delta"]) for r in explanation["families"] + explanation["members"]) * 100
    st.markdown(f"**Noise floor: {NOISE_FLOOR_PP} pp.** Effects below it (grey, between the dotted lines) mean the "
                "model barely reacts to that input; the axes span at least ±1 pp so tiny effects stay tiny.")
    if largest < NOISE_FLOOR_PP:
        st.info(f"Every effect is below {NOISE_FLOOR_PP} pp (the largest is {largest:.4f} pp): the model barely reacts "
                "to its inputs here, and its P(UP) sits near its calibrated base rate whatever the window holds.")
    left, right = st.columns(2)
    with left:
        st.subheader("Indicator families and market context")
        st.plotly_chart(charts.effect_bars(explanation["families"], "group"), config=charts.CHART_CONFIG, key="families")
    with right:
        st.subheader("Members")
        st.caption("Each member removed as if it had no data.")
        st.plotly_chart(charts.effect_bars(explanation["members"], "symbol"), config=charts.CHART_CONFIG, key="members")
    values = explanation.get("shapley")
    if values:
        st.subheader("Shapley values of the families")
        st.caption(f"From P(UP) {probability_text(values['base'])} with every family removed to "
                   f"{probability_text(values['probability'])} with all of them: each family's average contribution "
                   "over the orders they could be added in (the values add up to the difference).")
        rows = [{"group": row["group"], "delta": row["shap"]} for row in values["families"]]
        st.plotly_chart(charts.effect_bars(rows, "group"), config=charts.CHART_CONFIG, key="shapley")
    grid = explanation.get("member_families")
    if grid:
        st.subheader("Member × indicator family")
        st.caption("The change in P(UP) when one indicator family of one member is removed.")
        st.plotly_chart(charts.member_family_heatmap(grid), config=charts.CHART_CONFIG, key="heatmap")
