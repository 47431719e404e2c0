"""Track record: the live forecasts, what happened, how they compare with always-UP; the model card."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sensex.backtest.report import walk_forward_command
from sensex.interfaces.app import charts, common
from sensex.interfaces.app.charts import probability_text, session_text

METRICS = (("accuracy", "accuracy", "{:.3f}"), ("auc", "AUC", "{:.3f}"), ("brier", "Brier", "{:.4f}"))


def rows_table(rows: list[dict]) -> pd.DataFrame:
    """Display rows: every cell a word or a formatted number, never None."""
    def correct(value: bool | None) -> str:
        return "pending" if value is None else ("✓ yes" if value else "✗ no")

    return pd.DataFrame([{
        "as of": session_text(r["as_of"]),
        "for session": session_text(r["target_date"]),
        "mode": r["mode"],
        "model": f"v{r['model_version']}",
        "call": r["direction"],
        "P(UP)": probability_text(r["probability"]),
        "realized": r["realized"] or "pending",
        "correct": correct(r["correct"]),
        "times logged": r["times_logged"],
        "80% band": band_text(r),
        "close in band": "n/a" if r.get("band_low") is None else correct(r.get("band_inside")),
        **({"why not live": r["reason"]} if r.get("reason") else {}),
    } for r in rows])


def band_text(row: dict) -> str:
    if row.get("band_low") is None:
        return "n/a"
    return f"{row['band_low']:,.0f} to {row['band_high']:,.0f}"


def band_coverage(band: dict | None) -> None:
    """How often the close landed inside the range forecast's 80% band, beside the 80% it promises."""
    if not band or not band.get("n"):
        st.caption("Range forecast band: no live forecast carried one yet (models trained before the range forecast"
                   " have none).")
        return
    st.subheader("Range forecast: how often the close landed inside the 80% band")
    coverage = band.get("coverage")
    with common.metric_row():  # cards wrap instead of cutting values at 1024 px
        st.metric("Band coverage", "pending" if coverage is None else f"{coverage:.0%}",
                  None if coverage is None else f"{(coverage - band['level']) * 100:+.0f} pp vs the promised "
                  f"{band['level']:.0%}", delta_color="off")
        st.metric("Closes inside the band", f"{band['inside']} of {band['resolved']}")
        st.metric("Banded forecasts pending", band["n"] - band["resolved"])
    st.caption("A central 80% band should hold about 4 closes in 5; with 20 resolved sessions a 90% interval around the"
               " coverage is about ±15 points. The band says how far, never which way.")


def metric_cell(value: float | None, interval: list | None, fmt: str) -> str:
    if value is None:
        return "n/a"
    text = fmt.format(value)
    if interval and len(interval) == 2 and None not in interval:
        text += f" [{fmt.format(interval[0])}, {fmt.format(interval[1])}]"
    return text


def calibration_caption(calibration: dict, combiner: dict) -> str:
    """How the model's probabilities were calibrated, in a sentence: the method and its window, and
    the prior shift (an ensemble's is its combiner's) when there is one."""
    text = (f"Calibration: {calibration.get('method', 'n/a')}, fit on {calibration.get('fit_start', '?')} to "
            f"{calibration.get('fit_end', '?')}")
    if combiner:
        text = (f"Combiner: {combiner.get('rule', 'n/a')}, fit on {combiner.get('fit_start', '?')} to "
                f"{combiner.get('fit_end', '?')}")
    offset = float((combiner or calibration).get("prior_offset") or 0.0)
    if offset:
        text += f"; base rate moved from the validation window's share of UP days to the long-run share (logit {offset:+.3f})"
    return text + "."


def data_of(card: dict) -> dict:
    return card.get("data") or {}


def range_card(scored: dict | None, synthetic: bool) -> None:
    """The range forecast's test QLIKE beside its baselines, and its interval coverage."""
    if not scored or not scored.get("metrics"):
        st.caption("Range forecast: none in this model (trained before it existed, or turned off by its preset).")
        return
    baselines = ", ".join(f"{name.replace('_', ' ')} {b['qlike']:.3f}" for name, b in (scored.get("baselines") or {}).items())
    st.markdown(f"**Range forecast on the test window** ({scored.get('start', '?')} to {scored.get('end', '?')}, "
                f"n={scored.get('n')}): QLIKE {scored['metrics']['qlike']:.3f} (lower is better) against {baselines}; "
                f"80% interval coverage {scored.get('coverage_80', float('nan')):.2f}, 90% "
                f"{scored.get('coverage_90', float('nan')):.2f}.")
    if synthetic:
        st.caption("Trained and tested on SYNTHETIC data: a skill figure here proves nothing about markets.")


def skill_notice(skill: dict | None) -> None:
    """A card that cannot claim skill says so above its figures, with every reason."""
    if skill and skill.get("skill") in ("none", "unknown"):
        st.warning("No skill shown out of sample: " + "; ".join(skill.get("reasons") or []) + ". Treat its"
                   " direction as a coin; the track record below is the evidence to watch.")


def model_card(card: dict) -> None:
    st.subheader(f"Model card: {card.get('name', 'model')} v{card['version']}")
    skill_notice(card.get("skill"))
    if card.get("data_warning"):  # the model learnt from another kind of prices than the store holds now
        st.error(card["data_warning"], icon=":material/swap_horiz:")
    with common.metric_row():
        st.metric("Version", f"v{card['version']}")
        st.metric("Kind", card.get("kind") or card.get("model_kind") or "n/a")
        st.metric("Stage", card.get("stage") or "n/a")
        st.metric("Input window", f"{card.get('window')} sessions" if card.get("window") else "n/a")
    segments = card.get("segments") or {}
    windows = [{"window": name, "from": session_text(span[0]), "to": session_text(span[1])}
               for name, span in segments.items() if isinstance(span, list | tuple) and len(span) == 2]
    calibration = card.get("calibration") or {}
    left, right = st.columns([1, 2])
    with left:
        st.markdown("**Windows** (split by time only)")
        if windows:
            st.dataframe(pd.DataFrame(windows), hide_index=True)
        if calibration:
            st.caption(calibration_caption(calibration, ((card.get("ensemble") or {}).get("combiner") or {})))
    with right:
        st.markdown("**Test metrics beside the baselines** (same rows; 90% block-bootstrap intervals)")
        test, intervals = card.get("test_metrics") or {}, card.get("test_intervals") or {}
        table = [{"model": f"{card.get('kind') or 'model'} (this model)",
                  **{label: metric_cell(test.get(key), intervals.get(key), fmt) for key, label, fmt in METRICS}}]
        for name, values in (card.get("test_baselines") or {}).items():
            values = values or {}
            table.append({"model": name.replace("_", " "),
                          **{label: metric_cell(values.get(key), (values.get("intervals") or {}).get(key), fmt)
                             for key, label, fmt in METRICS}})
        st.dataframe(pd.DataFrame(table), hide_index=True)
        if not card.get("test_baselines"):
            st.caption("The baselines' test metrics are in the MLflow run below (`baseline_*_test_*`).")
    range_card(card.get("range"), bool(data_of(card).get("synthetic")))
    gate = ("passed: only a version that passes the promotion gate serves as Production"
            if card.get("stage") == "Production" else f"this version is {card.get('stage') or 'not staged'}")
    data = card.get("data") or {}
    st.markdown(
        f"**Promotion gate:** {gate}.  \n"
        f"**MLflow run:** `{card.get('run_id') or 'n/a'}` (model `{card.get('uri') or card.get('name')}`), "
        f"registered {card.get('created') or 'n/a'}.  \n"
        f"**Trained on:** {data.get('source') or card.get('data_source') or 'n/a'} data"
        + (f", {data.get('first_date')} to {data.get('last_date')}, content hash `{data.get('content_hash')}`"
           if data.get("last_date") else "") + "."
    )


def simulated_section() -> None:
    """The recipe's simulated record from the stored walk-forward forecasts, apart from the live one."""
    st.subheader("Simulated record of the recipe (walk-forward, not live)")
    st.caption("What a model refit every few months would have said each session, each forecast by a model fit on "
               "the sessions before its block (`sensex evaluate --walk-forward`). SIMULATED: nobody issued these "
               "forecasts; the live record above is the one that counts. Scored the same way: no calls left out of "
               "the hit rate, always UP on the same sessions.")
    files = [f for f in (common.attempt(common.backtest_forecasts) or []) if not f.get("error")]
    if not files:
        shown = common.universe()
        st.info("No walk-forward forecasts are stored yet: "
                f"`{walk_forward_command('close', None if shown.is_default else shown.spec)}` stores them.")
        return
    labels = {f"{f['mode']} mode, refit every {f['refit_months']} months": f for f in files[::-1]}
    chosen = labels[st.selectbox("Forecasts", list(labels), key="simulated_file", width=380)]
    simulated = common.attempt(lambda: common.simulated_record(chosen))
    if simulated is None:
        return
    if not simulated.get("hit_rate_interval") and simulated.get("reason"):
        st.info(simulated["reason"])
        return
    source = simulated.get("source") or {}
    if source.get("synthetic"):
        st.caption("On SYNTHETIC data: this record proves nothing about markets.")
    with common.metric_row():
        st.metric("Sessions (simulated)", f"{simulated['n']:,}", help=f"{simulated['first']} to {simulated['last']}")
        if simulated["hit_rate"] is not None:
            low, high = simulated["hit_rate_interval"]
            st.metric("Hit rate", f"{simulated['hit_rate']:.1%}",
                      f"{(simulated['hit_rate'] - simulated['always_up_hit_rate']) * 100:+.1f} pp vs always UP "
                      f"({simulated['always_up_hit_rate']:.1%})",
                      help=f"Of {simulated['calls']:,} calls, 90% interval {low:.1%} to {high:.1%};"
                           f" {simulated['abstentions']:,} no calls are abstentions.")
        st.metric("Brier", f"{simulated['brier']:.4f}", f"{simulated['brier_minus_always_up']:+.4f} vs always UP "
                  f"({simulated['always_up_brier']:.4f})", delta_color="inverse")
    interval = simulated.get("brier_minus_always_up_interval")
    if interval:
        verdict = ("better than always UP" if interval[1] < 0 else
                   "worse than always UP" if interval[0] > 0 else "not distinguishable from always UP")
        st.markdown(f"**Brier minus always UP's: {simulated['brier_minus_always_up']:+.4f}, 90% interval "
                    f"{interval[0]:+.4f} to {interval[1]:+.4f}: {verdict}.**")
    years = pd.DataFrame([{"year": str(y["year"]), "sessions": y["n"],
                           "hit rate": "no calls" if y["hit_rate"] is None else f"{y['hit_rate']:.1%}",
                           "always UP": f"{y['always_up_hit_rate']:.1%}", "Brier": f"{y['brier']:.4f}",
                           "always UP Brier": f"{y['always_up_brier']:.4f}"} for y in simulated["years"]])
    left, right = st.columns([1, 1])
    with left:
        st.dataframe(years, hide_index=True)
    with right:
        st.plotly_chart(charts.reliability(simulated["reliability"], "simulated forecasts"), config=charts.CHART_CONFIG,
                        key="simulated_reliability")
    st.caption(f"From `{source.get('file', '?')}`: model {source.get('model', '?')}, preset {source.get('preset', '?')},"
               f" MLflow run `{source.get('run_id', 'n/a')}`.")


st.header("Track record")
st.caption("Live forecasts only: each forecast made from the latest stored session, one per session and mode "
           "(the first one logged for it), scored once the target session's close is stored.")
record = common.attempt(lambda: common.backend().track_record())
if record is not None:
    rows, summary = record["rows"], record["summary"]
    if not rows:
        st.info("No live forecasts yet: the Forecast page (or `sensex predict`) logs one per session when the data "
                "is up to date; each is scored once its target session's close is stored.")
    else:
        model, always_up = summary["model"], summary["always_up"]
        abstained = summary.get("abstentions", 0)
        with common.metric_row():
            st.metric("Sessions forecast", summary["n"])
            st.metric("Resolved", summary["resolved"], help=f"{summary['pending']} pending")
            if model and model.get("hit_rate") is not None:
                st.metric("Hit rate", f"{model['hit_rate']:.1%}",
                          f"{(model['hit_rate'] - always_up['hit_rate']) * 100:+.1f} pp vs always UP "
                          f"({always_up['hit_rate']:.1%})",
                          help=f"Of {model['calls']} calls; {abstained} no calls are abstentions, not misses.")
            elif model:
                st.metric("Hit rate", "no calls", help=f"All {abstained} resolved forecasts were no calls (abstentions).")
            else:
                st.metric("Hit rate", "pending")
            if model:
                st.metric("Brier", f"{model['brier']:.4f}", f"{model['brier'] - always_up['brier']:+.4f} vs always UP "
                          f"({always_up['brier']:.4f})", delta_color="inverse")
            else:
                st.metric("Brier", "pending")
        st.subheader("Live forecasts")
        st.plotly_chart(charts.live_forecasts(rows), config=charts.CHART_CONFIG, key="live_forecasts")
        if summary["rolling"]:
            st.subheader("Rolling hit rate and Brier against always UP")
            st.plotly_chart(charts.rolling_scores(summary["rolling"], summary["window"]), config=charts.CHART_CONFIG,
                            key="rolling")
            st.caption("Always UP calls UP every session, with P(UP) = the share of UP sessions in the index history "
                       "up to that session. Few resolved sessions make any hit rate noisy: 20 sessions put a 90% "
                       "interval of about ±18 points around it.")
        band_coverage(summary.get("band"))
        if summary["reliability"]:
            st.subheader("Reliability of live forecasts")
            st.caption("Sessions grouped by forecast P(UP) into equal-count bins: a calibrated forecaster's points "
                       "sit on the diagonal.")
            st.plotly_chart(charts.reliability(summary["reliability"]), config=charts.CHART_CONFIG, key="reliability")
        st.subheader("Every live forecast")
        st.dataframe(rows_table(rows), hide_index=True)
    if record["not_live"]:
        count = len(record["not_live"])
        with st.expander(f"Not part of the track record ({count} session{'s' * (count != 1)})"):
            st.caption("Back-dated: a query about a session older than the latest stored one (`--as-of`). After the "
                       "target closed: a forecast from stale data, made when its target session had already closed. "
                       "Neither is a forecast anyone could have acted on.")
            st.dataframe(rows_table(record["not_live"]), hide_index=True)

with st.container(border=True):
    simulated_section()

card = common.attempt(lambda: common.backend().model_card())
if card is None:
    shown = common.universe()
    st.warning(common.no_model_advice(shown.spec, shown.is_default))
else:
    with st.container(border=True):
        model_card(card)
