"""`sensex daily`: the cron-friendly job for one trading day.

For the last completed BSE session it: updates the store, records the realized outcomes of past
forecasts, and for every mode with a production model checks drift, retrains a challenger and runs
the promotion gate when drift says `retrain` (or `retrain_every_sessions` in `daily.yaml` is due),
then forecasts the next session. Alerts go out as `alerts.yaml` says.

- Idempotent: every run appends one record to `$SENSEX_HOME/logs/daily.json` (JSON Lines) with the
  session, what it did and which steps are done. A run for a session that already has an `ok`
  record changes nothing and says so; after a failed run, the next one redoes only what is not done.
- One at a time: a run holds an exclusive lock on `$SENSEX_HOME/locks/daily.lock`. A second run started
  meanwhile does not wait: it exits 0 saying which process holds the lock (the holder does the
  day's work), unless the holder has held it for more than `HUNG_AFTER`: then it reports a failure.
- Nothing on a day that is not a BSE session (weekends, holidays, from `sensex.market.calendar`).
- A pre-open forecast needs the S&P 500 close of the session, there only after about 02:30 IST: an
  evening run leaves it `waiting` (status `waiting`, exit 0, not finished) and a run before the BSE
  open makes it.
- Exit status (the CLI's): 0 when the day's work is done (or waits for overnight data), was already
  done, is another run's, or there is none; 1 when a step failed or an alert could not be delivered (the summary says which).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

import pandas as pd

from sensex.core import jsonlog
from sensex.core.errors import DataError, PromotionRejected, SensexError
from sensex.core.settings import Settings
from sensex.jobs.daily_config import DailyConfig, load_daily_config
from sensex.jobs.daily_lock import HUNG_AFTER, LOCK_FILE, DailyLock
from sensex.jobs.modes import ModeJobs, all_modes, get_mode
from sensex.market import calendar, dates
from sensex.monitoring.alerts import AlertsConfig, Event, dispatch, load_alerts

log = logging.getLogger(__name__)

DAILY_LOG = "daily.json"
# `--date D` runs as if at this time (IST) on D: after the close, once the daily bar exists.
AFTER_CLOSE = clock_time(18, 0)


_SECRET_PATTERNS = (re.compile(r"(\w+://)[^/@\s]+@"), re.compile(r"((?:password|passwd|token|secret)=)[^&\s]+", re.I))


def _safe(text: str) -> str:
    """A message fit for the summary and the log: credentials in URLs or query strings masked."""
    text = _SECRET_PATTERNS[0].sub(r"\1***@", text)
    return _SECRET_PATTERNS[1].sub(r"\1***", text)


def _error_sentence(exc: BaseException) -> str:
    if isinstance(exc, SensexError):
        return _safe(str(exc))
    if isinstance(exc, ModuleNotFoundError) and exc.name == "torch":
        return "Retraining needs PyTorch, which this install lacks: install `sensex[train]` or retrain elsewhere."
    return _safe(f"{exc.__class__.__name__}: {exc}")


def _not_promoted(outcome: dict, registry, run_id: str | None) -> str:
    """One sentence on why setup kept production: the challenger's own gate failures when it
    failed the gate, else setup's reason (it passed but did not beat production)."""
    version = next((v["version"] for v in registry.list_all_versions() if v["run_id"] == run_id), None)
    failures = ((outcome.get("gates") or {}).get(version) or {}).get("failures") or []
    if failures:
        return (f"The challenger (version {version}) fails the promotion gate: {'; '.join(failures)};"
                f" production version {outcome.get('version')} stays.")
    return f"The challenger (version {version}) was not promoted: {outcome.get('reason')}."


DRIFT_PARTS = ("performance", "features", "live")


def drift_message(mode: str, version, severity: str, parts: dict[str, dict]) -> str:
    """One readable sentence for the drift alert: the parts that say watch or retrain, each with its
    reason; parts without enough sessions are named as not judged, not as problems."""
    flagged = [f"{name} says {part['severity']}: {part['reason'].rstrip('.')}" for name, part in parts.items()
               if part["judged"] and part["severity"] != "ok"]
    unjudged = [name for name, part in parts.items() if not part["judged"]]
    detail = "; ".join(flagged) if flagged else "no judged part shows drift"
    if unjudged:
        detail += f" (not judged yet, too few sessions: {', '.join(unjudged)})"
    return f"Drift for mode {mode}, model v{version}: {severity} ({detail})."


def _now_for(day: str | None, now: datetime | None) -> datetime:
    if now is not None:
        return now
    if day is None:
        return calendar.now_ist()
    # Only sessions that have closed: a later date would make the synthetic market invent prices.
    date = dates.check_not_future(day, "--date")
    return datetime.combine(date, AFTER_CLOSE, tzinfo=calendar.IST)


def run_daily(settings: Settings, alerts_path: str | Path | None = None, day: str | None = None,
              now: datetime | None = None, yahoo_reachable=None, env: dict[str, str] | None = None) -> dict:
    """One trading day's work (see the module docstring). `day` (YYYY-MM-DD) runs for that date as if
    after its close; `now` and `yahoo_reachable` let tests fix the clock and keep off the network."""
    alerts = load_alerts(settings.home, alerts_path, env)  # a bad alerts or daily file stops here, before any work
    config = load_daily_config(settings.home)
    now = _now_for(day, now)
    today = pd.Timestamp(now.astimezone(calendar.IST).date())
    summary = {"date": str(today.date()), "status": "ok", "actions": [], "changed": False, "alerts_sent": 0,
               "alert_errors": [], "errors": [], "run_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not calendar.is_session(today):
        return summary | {"status": "skipped",
                          "message": f"{today.date()} is not a BSE session (weekend or holiday): nothing to do."}
    session = calendar.last_completed_session(now)
    summary["date"] = str(session.date())
    log_path = settings.logs_dir / DAILY_LOG
    with DailyLock(settings.home / LOCK_FILE) as lock:
        if not lock.acquired:
            return _locked(summary, lock, alerts, env)
        previous = [r for r in jsonlog.read(log_path) if r.get("date") == summary["date"]]
        finished = next((r for r in reversed(previous) if r.get("status") == "ok"), None)
        if finished is not None:
            return summary | {"status": "already_done", "previous_run_at": finished.get("run_at"),
                              "message": f"The work for session {summary['date']} was done at {finished.get('run_at')}:"
                                         " nothing to do, nothing changed."}
        done = set().union(*(set(r.get("done", [])) for r in previous))
        job = DailyJob(settings, config, now, session, done, yahoo_reachable)
        job.run()
        summary = job.summary(summary, alerts, env)
        jsonlog.append(log_path, summary)
    return summary


def _locked(summary: dict, lock: DailyLock, alerts: AlertsConfig | None, env) -> dict:
    held = lock.held_for()
    who = f"process {lock.holder.get('pid', '?')}" + (f" since {lock.holder['since']}" if lock.holder.get("since") else "")
    if held is not None and held > HUNG_AFTER:
        message = (f"Another `sensex daily` run ({who}) has held {LOCK_FILE} for more than"
                   f" {HUNG_AFTER.total_seconds() / 3600:g} h: it may be hung; check that process and stop it if so.")
        delivery = dispatch(alerts, [Event("daily_failed", message, summary["date"])], env)
        return summary | {"status": "failed", "errors": [message], "message": message,
                          "alerts_sent": delivery.sent, "alert_errors": delivery.errors}
    return summary | {"status": "locked",
                      "message": f"Another `sensex daily` run ({who}) holds the lock and is doing the work: nothing done."}


class DailyJob:
    """The steps of one run; each records an action, failures included, and never raises."""

    def __init__(self, settings: Settings, config: DailyConfig, now: datetime, session: pd.Timestamp,
                 done: set[str], yahoo_reachable=None):
        self.settings, self.config, self.now, self.session = settings, config, now, session
        self.date = str(session.date())
        self.done = set(done)
        self.drift_parts: dict[str, dict] = {}  # per mode, the last drift report's parts (the retrain cooldown reads them)
        self.yahoo_reachable = yahoo_reachable
        self.actions: list[dict] = []
        self.events: list[Event] = []

    # -- bookkeeping --------------------------------------------------------------------------------
    def _record(self, action: str, status: str, key: str | None = None, changed: bool = False, **detail) -> dict:
        entry = {"action": action, "status": status, "changed": changed, **detail}
        self.actions.append(entry)
        if key and status in ("done", "skipped", "refused"):
            self.done.add(key)
        return entry

    def _failed(self, action: str, exc: BaseException, **detail) -> None:
        message = _error_sentence(exc)
        log.error("daily: %s failed: %s", action, message)
        log.debug("daily: %s failed", action, exc_info=exc)
        self._record(action, "failed", error=message, **detail)

    # -- the steps ----------------------------------------------------------------------------------
    def run(self) -> None:
        from sensex.market.universe import load_universe

        universe = load_universe(self.settings.universe)
        ready = self.update(universe)
        self.outcomes(universe.index_symbol)
        if not ready:
            return
        for mode in self.serving_modes():
            severity = self.drift(mode)
            self.retrain(mode, severity)
            self.forecast(mode)

    def update(self, universe) -> bool:
        """Fetch the session's data; True when the store now holds it and its quality is ready."""
        from sensex.data.ingest import update_store

        try:
            result = update_store(self.settings, universe, now=self.now, yahoo_reachable=self.yahoo_reachable)
        except Exception as exc:
            self._failed("update", exc)
            self.events.append(Event("data_not_ready", f"Data update for session {self.date} failed: {_error_sentence(exc)}",
                                     self.date, {"stale": True, "readiness": False}))
            return False
        quality = result["quality"]
        last_date = result["last_date"]
        stale = pd.Timestamp(last_date) < self.session
        detail = {"source": result["source"], "synthetic": result["synthetic"], "rows_added": result["rows_added"],
                  "rows_revised": result["rows_revised"], "last_date": last_date, "quality": quality["status"]}
        changed = bool(result["rows_added"] or result["rows_revised"] or result["replaced_store"])
        if stale or not quality["readiness"]:
            why = (f"the store ends {last_date} ({result['source']})" if stale
                   else f"the data-quality report says not ready ({quality['statistics']['valid_symbols']}/"
                        f"{quality['statistics']['total_symbols']} members valid)")
            message = (f"Data for session {self.date} is not ready: {why}; the job retries on its next run"
                       " (see `sensex data status`).")
            self.events.append(Event("data_not_ready", message, self.date,
                                     {"stale": bool(stale), "readiness": bool(quality["readiness"]), **detail}))
            self._record("update", "failed", changed=changed, error=message, **detail)
            return False
        self._record("update", "done", "update", changed=changed, **detail)
        return True

    def outcomes(self, index_symbol: str) -> None:
        from sensex.monitoring.outcomes import record_outcomes

        try:
            counts = record_outcomes(self.settings, index_symbol)
        except Exception as exc:
            self._failed("outcomes", exc)
            return
        self._record("outcomes", "done", "outcomes", changed=counts["recorded"] > 0, **counts)

    def serving_modes(self) -> list[ModeJobs]:
        wanted = [get_mode(name) for name in self.config.modes] if self.config.modes else all_modes()
        serving, unserved, broken = [], [], False
        for mode in wanted:
            try:
                production = mode.registry(self.settings).get_production_model()
            except Exception as exc:
                self._failed("forecast", exc, mode=mode.name)
                broken = True
                continue
            (serving if production is not None else unserved).append(mode)
        no_model = "No production model for mode {}: run `sensex train` then `sensex registry setup`."
        if not serving and not broken:
            # Not one forecast can be made: the day's work cannot be done.
            self._record("forecast", "failed", mode=",".join(m.name for m in unserved),
                         error="No production model: run `sensex train` then `sensex registry setup`.")
        else:
            for mode in unserved:  # a mode not set up yet is not this run's failure
                self._record("forecast", "skipped", mode=mode.name, message=no_model.format(mode.name))
        return serving

    def drift(self, mode: ModeJobs) -> str | None:
        """The three-part drift report (performance, features, live); its overall severity drives
        retraining. A part without enough sessions is `judged: false`, which is not a failure; when
        no part can be judged yet the step is skipped and says why."""
        key = f"drift:{mode.name}"
        if key in self.done:
            return None
        from sensex.models.config import load_config

        try:
            # The preset's `promotion` section is the gate, so its drift tolerance is the one that counts.
            report = mode.drift(self.settings, load_config(self.config.preset).promotion)
        except Exception as exc:
            self._failed("drift", exc, mode=mode.name)
            return None
        parts = {name: {"severity": report[name]["severity"], "judged": bool(report[name].get("judged")),
                        "reason": report[name]["reason"]} for name in DRIFT_PARTS}
        self.drift_parts[mode.name] = parts
        if not any(part["judged"] for part in parts.values()):
            self._record("drift", "skipped", key, mode=mode.name, version=report.get("version"), parts=parts,
                         message=f"Nothing to judge yet: {' '.join(part['reason'] for part in parts.values())}")
            return None
        severity = report["severity"]
        self._record("drift", "done", key, mode=mode.name, severity=severity, version=report.get("version"),
                     window=report.get("window"), n=report.get("n"), recommendation=report.get("recommendation"),
                     parts=parts)
        self.events.append(Event("drift", drift_message(mode.name, report.get("version"), severity, parts), self.date,
                                 {"mode": mode.name, "severity": severity, "version": report.get("version"),
                                  "recommendation": report.get("recommendation"), "window": report.get("window"),
                                  "n": report.get("n"),
                                  "parts": {name: part["severity"] for name, part in parts.items()}}))
        return severity

    def _schedule_due(self, mode: ModeJobs) -> str | None:
        every = self.config.retrain_every_sessions
        if not every:
            return None
        _, bundle = mode.registry(self.settings).load()
        since = pd.Timestamp(bundle.meta.segments["test"][1])
        retrains = [pd.Timestamp(r["date"]) for r in jsonlog.read(self.settings.logs_dir / DAILY_LOG)
                    if f"retrain:{mode.name}" in r.get("done", [])]
        since = max([since, *retrains])
        passed = len(calendar.sessions(since + pd.Timedelta(days=1), self.session))
        return f"{passed} sessions since {since.date()} (schedule: every {every})" if passed >= every else None

    def _cooling_down(self, mode: ModeJobs) -> str | None:
        """Why a drift retrain waits: the last one was fewer than `retrain_cooldown_sessions` ago and
        the drift is in the features or the live record, not the model's measured performance (a
        challenger trained on nearly the same data would be refused again, at minutes of CPU each)."""
        parts = self.drift_parts.get(mode.name, {})
        cooldown = self.config.retrain_cooldown_sessions
        if not cooldown or parts.get("performance", {}).get("severity") == "retrain":
            return None
        retrains = [pd.Timestamp(r["date"]) for r in jsonlog.read(self.settings.logs_dir / DAILY_LOG)
                    if f"retrain:{mode.name}" in r.get("done", [])]
        if not retrains:
            return None
        last = max(retrains)
        passed = len(calendar.sessions(last + pd.Timedelta(days=1), self.session))
        if passed >= cooldown:
            return None
        return (f"Drift says retrain, but the last retrain was {passed} sessions ago ({last.date()}): the next one"
                f" waits until {cooldown} have passed (daily.yaml retrain_cooldown_sessions), unless the model's"
                " own performance drifts.")

    def retrain(self, mode: ModeJobs, severity: str | None) -> None:
        key = f"retrain:{mode.name}"
        if key in self.done:
            return
        try:
            drifted = severity == "retrain" and self.config.retrain_on_drift
            why = "drift severity retrain" if drifted else self._schedule_due(mode)
            cooling = self._cooling_down(mode) if drifted else None
        except Exception as exc:
            self._failed("retrain", exc, mode=mode.name)
            return
        if cooling:
            self._record("retrain", "skipped", mode=mode.name, reason=why, message=cooling)
            return
        if not why:
            return
        from sensex.models.config import load_config

        try:
            gate = load_config(self.config.preset).promotion
            trained = mode.train(self.settings, self.config.preset, self.config.model)
        except Exception as exc:
            self._failed("retrain", exc, mode=mode.name, reason=why)
            return
        detail = {"mode": mode.name, "reason": why, "run_id": trained.get("run_id"),
                  "test_auc": trained.get("metrics", {}).get("test_auc")}
        try:
            registry = mode.registry(self.settings, gate)
            outcome = registry.setup_automated_promotion()
            if not outcome["promoted"]:
                # With a production model, setup keeps it rather than raising: for the daily job a
                # challenger that was not promoted is still a refusal to report and alert.
                raise PromotionRejected(_not_promoted(outcome, registry, trained.get("run_id")))
        except PromotionRejected as exc:
            message = _error_sentence(exc)
            self._record("retrain", "refused", key, changed=True, error=message, **detail)
            self.events.append(Event("promotion", f"Mode {mode.name}: the challenger was refused: {message}", self.date,
                                     {"outcome": "refused", **detail}))
            return
        except Exception as exc:
            self._failed("retrain", exc, **detail)
            self.events.append(Event("promotion", f"Mode {mode.name}: promotion failed: {_error_sentence(exc)}", self.date,
                                     {"outcome": "failed", **detail}))
            return
        self._record("retrain", "done", key, changed=True, promoted=outcome["promoted"],
                     version=outcome.get("version"), message=outcome.get("reason"), **detail)

    def forecast(self, mode: ModeJobs) -> None:
        key = f"forecast:{mode.name}"
        if key in self.done:
            return
        try:
            forecast = mode.forecast(self.settings, self.date)
        except DataError as exc:
            if mode.waits_for_overnight and "S&P 500" in str(exc):
                # Not a failure: the overnight close is not there yet; the run before the open makes it.
                self._record("forecast", "waiting", mode=mode.name,
                             message=f"{_error_sentence(exc)} The next run (before the BSE open) makes this forecast.")
                return
            self._failed("forecast", exc, mode=mode.name)
            return
        except Exception as exc:
            self._failed("forecast", exc, mode=mode.name)
            return
        detail = {k: forecast.get(k) for k in ("as_of", "target_date", "direction", "probability", "no_call",
                                                "confidence", "model_version", "synthetic")}
        self._record("forecast", "done", key, changed=not forecast.get("cached", False), mode=mode.name, **detail)
        synthetic = " [SYNTHETIC DATA]" if forecast.get("synthetic") else ""
        self.events.append(Event(
            "forecast",
            f"SENSEX {forecast['target_date']} ({mode.name}):"
            f" {'NO CALL (leans ' + forecast['direction'] + ')' if forecast.get('no_call') else forecast['direction']}"
            f" P(UP)={forecast['probability']:.3f}"
            f" confidence {forecast.get('confidence')}, model v{forecast.get('model_version')}{synthetic}. {forecast.get('note', '')}".strip(),
            self.date, {"mode": mode.name, **detail}))

    # -- the result ---------------------------------------------------------------------------------
    def summary(self, base: dict, alerts: AlertsConfig | None, env) -> dict:
        failed = [a for a in self.actions if a["status"] == "failed"]
        errors = [f"{a['action']}{' (' + a['mode'] + ')' if a.get('mode') else ''}: {a['error']}" for a in failed]
        if failed:
            self.events.append(Event("daily_failed", f"sensex daily for session {self.date} failed: {'; '.join(errors)}",
                                     self.date, {"errors": errors}))
        delivery = dispatch(alerts, self.events, env)
        waiting = [a for a in self.actions if a["status"] == "waiting"]
        # `waiting` is not finished: the next run for this session makes the waiting forecasts.
        status = "failed" if failed or delivery.errors else "waiting" if waiting else "ok"
        if failed:
            message = (f"Session {self.date}: {len(failed)} step(s) failed ({'; '.join(e.rstrip('.') for e in errors)});"
                       " the next run redoes what is not done.")
        elif delivery.errors:
            message = (f"Session {self.date}: the work is done but {len(delivery.errors)} alert(s) could not be delivered"
                       f" ({'; '.join(e.rstrip('.') for e in delivery.errors)}).")
        elif waiting:
            message = (f"Session {self.date}: done except {len(waiting)} forecast(s) waiting for overnight data"
                       f" ({', '.join(a['mode'] for a in waiting)}); the next run makes them.")
        else:
            message = f"Session {self.date}: done."
        return base | {
            "status": status, "actions": self.actions, "changed": any(a["changed"] for a in self.actions),
            "alerts_sent": delivery.sent, "alerts": delivery.alerts, "alert_errors": delivery.errors,
            "errors": errors, "done": sorted(self.done), "message": message,
        }


def render(summary: dict) -> str:
    """The human-readable summary (the JSON one is `--json`)."""
    lines = [f"sensex daily {summary['date']}: {summary['status']} (changed: {str(summary['changed']).lower()},"
             f" alerts sent: {summary['alerts_sent']})"]
    for action in summary["actions"]:
        mode = f" [{action['mode']}]" if action.get("mode") else ""
        extra = action.get("error") or action.get("message") or ", ".join(
            f"{k}={action[k]}" for k in ("rows_added", "last_date", "recorded", "severity", "target_date", "direction",
                                         "probability", "promoted", "version") if action.get(k) is not None)
        lines.append(f"  {action['action']}{mode}: {action['status']}{' - ' + str(extra) if extra else ''}")
    for error in summary.get("alert_errors", []):
        lines.append(f"  alert not delivered: {error}")
    if summary.get("message"):
        lines.append(summary["message"])
    return "\n".join(lines)
