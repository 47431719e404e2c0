"""Monitoring: the model server's health as chips, the data's age and quality, the cache, drift now
(three parts) and over time (feature PSI per family and rolling Brier and AUC since training)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sensex.interfaces.app import charts, common
from sensex.interfaces.app.charts import session_text

CHECKS = {"model_loaded": "model loaded", "model_inference": "model answers", "cache_healthy": "cache works",
          "data_fresh": "data fresh"}
STATUS_COLOUR = {"healthy": "green", "valid": "green", "degraded": "orange", "unhealthy": "red", "invalid": "red"}


def when(stamp: str | None) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%d %H:%M:%S %Z") if stamp else "never"


def chips(items: dict[str, bool]) -> None:
    with st.container(horizontal=True):
        for label, ok in items.items():
            st.badge(label, color="green" if ok else "red", icon=":material/check:" if ok else ":material/close:")


def findings_table(status: dict) -> pd.DataFrame:
    rows = []
    for symbol, entry in status.get("symbols", {}).items():
        for finding in entry.get("issues", []):
            rows.append({"symbol": symbol, "member valid": "yes" if entry.get("valid") else "no, excluded",
                         "finding": finding["kind"].replace("_", " "), "sessions": finding["count"],
                         "first": finding.get("first") or "", "last": finding.get("last") or "",
                         "what we do": finding.get("action") or "", "detail": finding.get("detail") or ""})
    return pd.DataFrame(rows)


st.header("Monitoring")

st.subheader("Model server")
health = common.attempt(lambda: common.backend().health())
if health:
    with st.container(horizontal=True):
        st.badge(health["status"].upper(), color=STATUS_COLOUR.get(health["status"], "gray"),
                 icon=":material/monitor_heart:")
        st.markdown(f"model v{health.get('model_version') or 'none'} · loaded {when(health.get('loaded_at'))} · "
                    f"checked {when(health.get('timestamp'))}")
    chips({CHECKS.get(name, name.replace("_", " ")): bool(ok) for name, ok in health["checks"].items()})
    detail = health.get("detail", {})
    if isinstance(detail.get("model"), str):
        st.error(detail["model"])
    cache = detail.get("cache")
    if isinstance(cache, dict):
        rate = cache.get("hit_rate")
        with common.metric_row():
            st.metric("Cache hit rate", "no lookups yet" if rate is None else f"{rate:.1%}")
            st.metric("Hits", f"{cache.get('hits', 0):,}")
            st.metric("Misses", f"{cache.get('misses', 0):,}")
            # Short values: a metric cuts what does not fit its width ("memory, 7 e...").
            st.metric("Cache entries", f"{cache.get('size', '?')}", help=f"Backend: {cache.get('backend', '?')}.")
    elif isinstance(cache, str):
        st.error(f"Cache: {cache}")

st.subheader("Data")
summary = st.session_state["data_summary"]
status = common.attempt(common.data_status)
if status:
    stats = status["statistics"]
    with st.container(horizontal=True):
        st.badge(f"data {status['status']}", color=STATUS_COLOUR.get(status["status"], "gray"),
                 icon=":material/database:")
        st.badge(charts.age_text(summary["days_old"], summary["sessions_behind"]),
                 color="red" if summary["stale"] else "green")
        if not status["readiness"]:
            st.badge("not ready to forecast", color="red")
        elif summary["stale"]:  # ready data that ends sessions ago forecasts a session long past
            st.badge("stale: forecasts would be for a past session", color="orange")
        else:
            st.badge("ready to forecast", color="green")
    with common.metric_row():
        st.metric("Last session stored", session_text(status["last_date"]))
        st.metric("Sessions behind", f"{summary['sessions_behind']:,}",
                  help=f"BSE sessions completed after the last stored one (the last on {session_text(summary['expected_last_date'])}).")
        st.metric("Valid members", f"{stats['valid_symbols']}/{stats['total_symbols']}",
                  help=f"At least {stats.get('required_valid_symbols', '?')} are needed to forecast.")
        st.metric("Source", "SYNTHETIC" if summary["synthetic"] else (status.get("source") or "unknown"))
    for warning in status.get("warnings", []):
        st.warning(warning)
    findings = findings_table(status)
    st.markdown(f"**Per-symbol quality findings** ({len(findings)})")
    if len(findings):
        st.dataframe(findings, hide_index=True)
    else:
        st.caption("No findings: every symbol passed every check.")

st.subheader("Drift")
SEVERITY_COLOUR = {"ok": "green", "watch": "orange", "retrain": "red"}
PART_TITLE = {"performance": "Performance on unseen sessions", "features": "Feature drift (PSI per family)",
              "live": "Live record (closed forecasts)"}
drift = common.attempt(common.drift)
if drift:
    with st.container(horizontal=True):
        st.badge(f"drift: {drift['severity'].replace('_', ' ')}", color=SEVERITY_COLOUR.get(drift["severity"], "gray"),
                 icon=":material/trending_down:")
        st.markdown(f"model v{drift.get('version')} · {drift['recommendation']}")
    for column, part in zip(st.columns(3), ("performance", "features", "live"), strict=True):
        entry = drift[part]
        with column:
            st.markdown(f"**{PART_TITLE[part]}**")
            if entry.get("judged", True):
                st.badge(entry["severity"], color=SEVERITY_COLOUR.get(entry["severity"], "gray"))
            else:  # too few sessions: no verdict, not an `ok`
                st.badge("not judged", color="gray")
            st.caption(entry["reason"])
    families = drift["features"].get("families") or []
    if families:
        st.markdown("**Population stability index by feature family**, each judged against what windows of the"
                    " same length inside training reach (`watch_at`, `retrain_at`)")
        st.dataframe(pd.DataFrame(families), hide_index=True)
    live = drift["live"]
    if live.get("judged"):
        abstained = live.get("abstentions", 0)
        with common.metric_row():
            st.metric("Live forecasts scored", f"{live['n']:,}")
            if live.get("hit_rate") is None:  # every scored forecast was a no call: nothing to hit or miss
                st.metric("Hit rate", "no calls yet",
                          help=f"All {abstained:,} scored forecasts were no calls (abstentions), not misses.")
            else:
                st.metric("Hit rate", f"{live['hit_rate']:.1%}",
                          help=f"Of {live.get('calls', live['n']):,} calls; 90% interval {live['hit_rate_interval'][0]:.1%}"
                               f" to {live['hit_rate_interval'][1]:.1%}.")
            st.metric("Always-UP hit rate", f"{live['always_up']['hit_rate']:.1%}")
            st.metric("Brier", f"{live['brier']:.4f}", delta=f"{live['brier'] - live['always_up']['brier']:+.4f} vs always-UP",
                      delta_color="inverse", help=f"Always-UP's Brier on the same sessions: {live['always_up']['brier']:.4f}"
                                                  " (lower is better).")
        if abstained:
            st.caption(f"{abstained:,} of the {live['n']:,} forecasts were no calls: abstentions, left out of the hit"
                       " rate and kept in the Brier score, which judges every P(UP).")
    if (live.get("back_dated") or {}).get("n"):
        st.caption(f"{live['back_dated']['n']} back-dated look-backs are kept apart: they are not a live record.")


def history_caption(history: dict) -> str:
    training = history["training"]
    return (f"Each point is an as-of session, every {history['step']} sessions from the end of training"
            f" ({session_text(training[1])}) to the last stored session. PSI: the last {history['recent_sessions']}"
            f" sessions after training against the training window {training[0]}..{training[1]}. Brier and AUC: the"
            f" model and always-UP (the training window's UP share every day) on the last {history['recent_sessions']}"
            f" labelled sessions after the validation window (it ends {history['validation_end']}) whose outcome was"
            " known on that date: no point uses a later session.")


st.markdown("**Drift over time**")
# Without a model the drift section above has said so already.
history = common.attempt(lambda: common.backend().drift_history(), missing_model="silent")
if history is not None:
    points = history["points"]
    if len(points) < 2:
        st.info(f"No drift history to draw yet: {history['reason']}" if not points else
                f"Only one as-of point so far ({session_text(points[0]['date'])}): the history draws from the second,"
                f" {history['step']} sessions later.")
    else:
        st.caption(history_caption(history))
        if history["families"]:
            st.plotly_chart(charts.psi_history(points, history["families"], history["thresholds"]),
                            config=charts.CHART_CONFIG, key="psi_history")
        judged = [point for point in points if point["performance"].get("brier") is not None]
        if judged:
            st.plotly_chart(charts.drift_performance_history(points, history["recent_sessions"]),
                            config=charts.CHART_CONFIG, key="drift_performance_history")
        else:
            st.caption(f"No rolling Brier or AUC yet: it needs {history['min_sessions']} labelled sessions after the validation window"
                       f" (it ends {history['validation_end']}).")
