"""Forecast: the latest forecast as a card, shown on load; stale data makes it a warning."""

from __future__ import annotations

import streamlit as st

from sensex.core.advice import update_advice
from sensex.interfaces.app import charts, common
from sensex.interfaces.app.charts import probability_text, session_text
from sensex.market import clock as market_clock


def stale_card(forecast: dict, summary: dict) -> None:
    """Old data: say so in large type; the model's answer from it is a footnote, not a forecast."""
    behind = summary["sessions_behind"]
    st.warning(
        f"**No forecast for the next session: the stored data is stale.** It ends on "
        f"{session_text(forecast['as_of'])}, and {behind:,} BSE session{'s' * (behind != 1)} "
        f"{'have' if behind != 1 else 'has'} closed since (the last on {session_text(summary['expected_last_date'])}). "
        f"{update_advice(common.universe_flag(), verb='Run')}, then press Run Prediction.",
        icon=":material/history:",
    )
    # A no call names no direction, here as on the live card: its `direction` is only the side of 50%.
    says = "makes no call (too close to 50% to name a direction)" if forecast.get("no_call") else (
        f"says {forecast['direction']}")
    st.caption(
        f"For the record: from the stored data the model {says} with P(UP) "
        f"{probability_text(forecast['probability'])} for {session_text(forecast['target_date'])}, "
        "a session that has already closed. Model v"
        f"{forecast['model_version']}."
    )


def live_card(forecast: dict) -> None:
    p = forecast["probability"]
    no_call = bool(forecast.get("no_call"))
    if no_call:
        headline = ":gray[● No call]"
    elif forecast["direction"] == "UP":
        headline = ":green[▲ UP]"
    else:
        headline = ":red[▼ DOWN]"
    left, right = st.columns([1, 2], vertical_alignment="center")
    with left:
        st.markdown(f"# {headline}")
        st.caption("No call" if no_call else f"Direction: {forecast['direction']}")
        st.metric("Target session", session_text(forecast["target_date"]),
                  help="The next BSE session after the last stored one (XBOM calendar).")
    with right:
        st.html(charts.probability_bar(p, forecast.get("interval"), common.universe().name))
        interval = forecast.get("interval")
        if interval and None not in interval:
            st.caption(f"P(UP) {probability_text(p)}, interval {probability_text(interval[0])} to "
                       f"{probability_text(interval[1])}.")
    cols = st.columns(3)
    cols[0].metric("P(UP)", probability_text(p))
    cols[1].metric("Confidence", forecast["confidence"])
    cols[2].metric("Risk", forecast["risk"], help=forecast.get("risk_basis"))
    expected_move(forecast)
    if no_call:
        st.info("No call: the forecast is too close to 50% to name a direction; the model abstains today.")
    if forecast.get("skill") == "none":
        # The model card's reasons (a coin-like AUC, no call on most test sessions, a better baseline).
        reasons = "; ".join(forecast.get("skill_reasons") or []) or "out of sample it was not distinguishable from a coin"
        st.warning(f"No skill shown ({reasons}): read its P(UP) as a coin flip, not as an edge.",
                   icon=":material/casino:")


def expected_move(forecast: dict) -> None:
    """How far, never which way: the range forecast's expected move and its 80% band, where the
    card is read; a model without a range forecast says so in a caption."""
    move = forecast.get("expected_move")
    if not move:
        st.caption(f"No range forecast: this model was trained before it existed (risk is the realized-volatility"
                   f" word, {forecast.get('realized_risk') or forecast.get('risk')}).")
        return
    st.markdown(f"**{charts.expected_move_text(move)}**")
    st.caption(f"80% band for the {session_text(forecast['target_date'])} close: {move['range_low']:,.0f} to "
               f"{move['range_high']:,.0f} (around the last close {move['last_close']:,.0f}); the move's 80% interval"
               f" {move['interval_pct'][0]:.2f}% to {move['interval_pct'][1]:.2f}%, both calibrated on"
               f" {move.get('calibration') or 'the validation window'}. Risk {forecast['risk']}: percentile"
               f" {forecast.get('risk_percentile') or 0:.0f} of the range forecasts over the training window (realized"
               f" volatility alone says {forecast.get('realized_risk')}).")
    st.info("How far, not which way: the expected move says how much the index may move next session, never in which"
            " direction. Its band is symmetric around the last close.", icon=":material/swap_vert:")
    if forecast.get("synthetic"):
        st.caption("On SYNTHETIC data any skill figure (the range forecast's against EWMA, the direction model's AUC)"
                   " proves nothing about markets: the prices were generated, not traded.")


def badges(forecast: dict, summary: dict, stale: bool) -> None:
    age = charts.age_text(summary["days_old"], summary["sessions_behind"])
    row = st.container(horizontal=True)
    with row:
        if stale:
            st.badge(age, color="red", icon=":material/warning:")
        else:
            st.badge(f"{age}: last session {session_text(forecast['as_of'])}", color="green",
                     icon=":material/check_circle:")
        if forecast.get("synthetic"):
            st.badge("SYNTHETIC data", color="orange", icon=":material/science:")
        if forecast.get("mode"):
            st.badge(f"mode: {forecast['mode']}", color="blue")
        if forecast.get("skill") == "none":
            st.badge("no skill shown", color="orange")
        elif forecast.get("skill") == "shown":
            st.badge("skill shown out of sample", color="green")
        if forecast.get("no_call"):
            st.badge("no call", color="gray")
        if forecast.get("target_status") == "under_way":
            st.badge("target session under way", color="orange", icon=":material/radio_button_checked:")


def clock_line(forecast: dict) -> None:
    """What the market clock means for this forecast: loud while its target session is on or over."""
    note = forecast.get("clock_note")
    if not note:
        return
    if forecast.get("target_status") in ("under_way", "pre_open", "closed"):
        st.info(note, icon=":material/schedule:")
    else:
        st.caption(note)


def forecast_card(forecast: dict, summary: dict) -> None:
    """One mode's forecast in a bordered card: badges, then the live card or the stale warning."""
    stale = bool(forecast.get("stale")) or summary["stale"]
    with st.container(border=True):
        badges(forecast, summary, stale)
        if forecast.get("data_warning"):  # the model learnt from another kind of prices than it reads now
            st.error(forecast["data_warning"], icon=":material/swap_horiz:")
        if stale:
            stale_card(forecast, summary)
        else:
            live_card(forecast)
            st.info(forecast["note"])
            clock_line(forecast)


def preopen_first(summary: dict) -> None:
    """From the S&P 500's close until BSE opens, the pre-open forecast comes first, when a pre-open
    model exists (no model: nothing is shown, the close forecast below is the forecast)."""
    # Whether a pre-open model exists is a file read; the S&P 500's clock is NYSE's calendar.
    if not common.backend().may_serve("preopen"):
        return
    if market_clock.preferred_mode(market_clock.read_clock()) != "preopen":
        return
    preopen = common.attempt(lambda: common.backend().predict_mode("preopen"), missing_model="silent")
    if preopen is None:
        return
    st.subheader("Pre-open forecast: read this one first")
    st.caption("The S&P 500 has closed since BSE's last close; the pre-open model has read that session, the"
               " close-mode forecast below has not.")
    forecast_card(preopen, summary)
    st.subheader("Close-mode forecast")


name = common.universe().name
st.header(f"{name}: next-session forecast")
st.caption(f"The production model's probability that the {name} closes above the last stored close on its next session "
           "(BSE's calendar; NSE shares its holidays).")
clicked = st.button("Run Prediction", key="run_prediction", type="primary",
                    help="Forecast again from the stored data (reused for five minutes when neither model nor data changed).")
forecast = common.latest_forecast(missing_model="error" if clicked else "warning")
summary = st.session_state["data_summary"]
preopen_first(summary)
if forecast:
    if str(forecast["model_version"]).startswith("baseline:"):
        st.warning(f"BASELINE FORECAST ({forecast['model_version']}): no trained model passed the promotion gate,"
                   " so this is the baseline's forecast, labelled as such (`sensex registry setup` says why).",
                   icon=":material/rule:")
    forecast_card(forecast, summary)
    source = "SYNTHETIC" if forecast.get("synthetic") else forecast.get("data_source")
    how = "reused from the forecast cache" if forecast.get("cached") else f"computed in {forecast.get('latency_ms')} ms"
    st.caption(f"Model v{forecast['model_version']} ({forecast.get('model_kind') or 'model'}) · data to "
               f"{session_text(forecast['as_of'])} ({source}) · {how} · a forecast, not investment advice.")
