"""Members: the next-session forecast of every member and sector beside the index forecast, a
treemap coloured by P(UP), and each member's out-of-sample record."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sensex.interfaces.app import common, member_charts
from sensex.interfaces.app.charts import probability_text, session_text


def move_text(move: dict | None) -> str:
    """`±1.42% (80%: ±2.31%)`: how far, never which way."""
    return "n/a" if not move else f"±{move['pct']:.2f}% (80%: ±{move['band_pct']:.2f}%)"


def record_table(members: list[dict], record: dict) -> pd.DataFrame:
    """Ranked members with their test-window record: every cell a word or a formatted number."""
    def number(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else fmt.format(value)

    table = pd.DataFrame([{
        "rank": m["rank"],
        "member": m["symbol"],
        "sector": m["sector"],
        "P(UP)": probability_text(m["probability"]) if m["probability"] is not None else "no data",
        **({"expected move": move_text(m.get("expected_move"))} if "expected_move" in m else {}),
        "test AUC": number(record.get(m["symbol"], {}).get("auc"), "{:.3f}"),
        "test hit rate": number(record.get(m["symbol"], {}).get("accuracy"), "{:.1%}"),
        "test sessions": record.get(m["symbol"], {}).get("n", 0),
    } for m in members])
    table["rank"] = table["rank"].astype("Int64")  # a member without data has an empty rank, not "nan"
    return table


def honesty_note(card: dict) -> str:
    """One sentence: did the served member forecast rank members better than the baselines out of sample?"""
    test, baselines = card.get("test") or {}, card.get("test_baselines") or {}
    low, high = (test.get("ic_interval") or [None, None])[:2]
    reversal = baselines.get("reversal", {}).get("ic_mean")
    text = (f"On the test window the member forecasts ({card.get('source')}) scored pooled AUC "
            f"{test.get('auc_pooled', float('nan')):.3f} and a daily rank IC of {test.get('ic_mean', float('nan')):+.4f}")
    if low is not None and high is not None:
        text += f" (90% interval [{low:+.4f}, {high:+.4f}])"
    if reversal is not None:
        text += f", against {reversal:+.4f} for short-term reversal"
    if low is None or low <= 0:
        return text + ": no ranking skill shown, treat the ranks as a coin."
    return text + "."


def lean_note(forecast: dict) -> str:
    """Why the members and sectors can all lean one way while the index makes no call: one sentence,
    with the day's counts when they do."""
    index = forecast["probability"]
    ranked = [m["probability"] for m in forecast.get("members") or [] if m.get("probability") is not None]
    sectors = [s["probability"] for s in forecast.get("sectors") or [] if s.get("probability") is not None]
    up, sectors_up = sum(p > 0.5 for p in ranked), sum(p > 0.5 for p in sectors)
    text = ("Member and sector forecasts are separate outputs of the model, each calibrated on its own: they are not"
            " the index forecast split up, and the index's P(UP) is not their average")
    lean = max(up, len(ranked) - up)
    if ranked and lean >= 0.8 * len(ranked) and (forecast.get("no_call") or (index > 0.5) != (up > len(ranked) / 2)):
        side = "above" if up > len(ranked) / 2 else "below"
        count = up if side == "above" else len(ranked) - up
        sector_count = sectors_up if side == "above" else len(sectors) - sectors_up
        call = "makes no call" if forecast.get("no_call") else f"says {forecast['direction']}"
        text += (f". Today {count} of {len(ranked)} members and {sector_count} of {len(sectors)} sectors sit"
                 f" {side} 50% while the index, at {probability_text(index)}, {call}: a lean most members share says"
                 " little about the index, whose own forecast is the one scored against its close")
    else:
        text += ": they can all lean one way while the index makes no call"
    return text + "."


st.header("Members and sectors")
forecast = common.latest_forecast(missing_model="warning")
if forecast is None:
    st.stop()
if not forecast.get("members"):
    st.info("The served model has no member forecasts (it was trained before they existed, or it is the labelled "
            "baseline): retrain with `sensex train` and promote it to see every member and sector.")
    st.stop()
card = common.attempt(lambda: common.backend().model_card(), missing_model="silent") or {}
member_card = card.get("member_forecasts") or {}

st.caption(f"Next session {session_text(forecast['target_date'])}, from data to {session_text(forecast['as_of'])}, "
           f"model v{forecast['model_version']}. A member's P(UP) is its own close above today's; a sector's is its "
           "members' equal-weighted return above zero. Both calibrated on the validation window.")
st.caption(lean_note(forecast))
index_column, sector_column = st.columns([1, 2])
with index_column:
    st.subheader(f"Index: {forecast['universe']}")
    st.metric("Index P(UP)", probability_text(forecast["probability"]))
    st.metric("Call", "No call" if forecast.get("no_call") else forecast["direction"])
    ranked = [m for m in forecast["members"] if m["probability"] is not None]
    st.metric("Members up (P > 50%)", f"{sum(m['probability'] > 0.5 for m in ranked)} of {len(ranked)}")
with sector_column:
    st.subheader("Sectors")
    st.plotly_chart(member_charts.sector_probability_bars(forecast["sectors"]), config={"displaylogo": False},
                    key="sector_probabilities")

st.subheader("Members by sector, coloured by P(UP)")
st.plotly_chart(member_charts.probability_treemap(forecast["members"], forecast["universe"]),
                config={"displaylogo": False}, key="member_treemap")

st.subheader("Ranked members and their out-of-sample record")
if member_card:
    st.markdown(honesty_note(member_card))
st.dataframe(record_table(forecast["members"], member_card.get("record") or {}), hide_index=True)
if any(m.get("expected_move") for m in forecast["members"]):
    st.caption("Expected move: how far each member may move next session, never which way (one HAR model of the "
               "members' daily range, pooled; the 80% figure is the move 4 sessions in 5 stay within).")
