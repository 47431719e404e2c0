"""`sensex daily`: one trading day's work, once, one run at a time, nothing on holidays, alerts sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from alert_receivers import Hook
from conftest import TINY_CONFIG

from sensex.core import jsonlog
from sensex.core.settings import load_settings
from sensex.data import store
from sensex.jobs.daily import DAILY_LOG, LOCK_FILE, run_daily
from sensex.market.calendar import IST
from sensex.monitoring.outcomes import OUTCOME_LOG

pytestmark = [pytest.mark.integration]

# The fixture market ends 2021-12-31; 2022-03-02 is a Wednesday session, 2022-03-01 a BSE holiday
# (Mahashivratri), 2022-01-26 Republic Day, 2022-03-05 a Saturday.
SESSION, NEXT_SESSION = "2022-03-02", "2022-03-03"


def after_close(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T18:00:00").replace(tzinfo=IST)


def offline() -> bool:
    return False


def _settings(home, source="synthetic"):
    return load_settings({"SENSEX_HOME": str(home), "SENSEX_DATA_SOURCE": source})


@pytest.fixture
def daily_home(trained_home, tmp_path):
    """A copy of the trained home (synthetic data to 2021-12-31, a tiny model in production), so the
    job's writes stay in this test."""
    home = tmp_path / "home"
    shutil.copytree(trained_home["settings"].home, home)
    (home / "daily.yaml").write_text("retrain_on_drift: false\n")  # this test is not about retraining
    return _settings(home)


def _alerts_file(home, hook, rules):
    home.mkdir(parents=True, exist_ok=True)
    (home / "alerts.yaml").write_text(json.dumps({"webhook": {"url": hook.url, "timeout_s": 5, "retries": 1,
                                                              "backoff_s": 0.05}, "rules": rules}))


def _files(settings):
    return {p.relative_to(settings.home): p.read_bytes() for p in settings.home.rglob("*")
            if p.is_file() and "mlartifacts" not in p.parts and p != settings.home / LOCK_FILE}


@pytest.mark.slow
def test_the_days_work_is_done_once_and_a_second_run_changes_nothing(daily_home, universe):
    settings = daily_home
    with Hook() as hook:
        _alerts_file(settings.home, hook, [{"when": "forecast", "min_probability": 0.0}, {"when": "drift", "severity": "watch"}])
        first = run_daily(settings, now=after_close(SESSION), yahoo_reachable=offline)
        assert first["status"] == "ok", first
        assert first["date"] == SESSION and first["changed"] is True
        by_action = {a["action"]: a for a in first["actions"] if a.get("mode") in (None, "close")}
        assert list(by_action) == ["update", "outcomes", "drift", "forecast"]
        # No pre-open model is in production: that mode is skipped, not a failure.
        assert {"action": "forecast", "status": "skipped", "mode": "preopen"}.items() <= next(
            a for a in first["actions"] if a.get("mode") == "preopen").items()
        assert by_action["update"]["last_date"] == SESSION and by_action["update"]["rows_added"] > 0
        forecast = by_action["forecast"]
        assert forecast["as_of"] == SESSION and forecast["target_date"] == NEXT_SESSION and forecast["mode"] == "close"
        assert by_action["drift"]["severity"] in ("ok", "watch", "retrain") and by_action["drift"]["n"] >= 20
        # The three-part report: performance and features judged on the new sessions, no live record yet.
        parts = by_action["drift"]["parts"]
        assert parts["performance"]["judged"] and parts["features"]["judged"] and not parts["live"]["judged"]
        assert parts["live"]["severity"] == "not_judged"
        assert by_action["drift"]["severity"] == max((p["severity"] for p in parts.values() if p["judged"]),
                                                     key=("ok", "watch", "retrain").index)
        # The forecast was logged, and alerted (every forecast matches min_probability 0.0).
        logged = jsonlog.read(settings.logs_dir / jsonlog.PREDICTION_LOG)
        assert [r["as_of"] for r in logged].count(SESSION) == 1
        assert "forecast" in hook.events() and first["alerts_sent"] == len(hook.requests)
        body = hook.requests[hook.events().index("forecast")]["body"]
        assert body["date"] == SESSION and NEXT_SESSION in body["message"] and body["details"]["probability"] == forecast["probability"]

        before = _files(settings)
        requests_before = len(hook.requests)
        second = run_daily(settings, now=after_close(SESSION) + timedelta(hours=2), yahoo_reachable=offline)
        assert second["status"] == "already_done" and second["changed"] is False
        assert second["actions"] == [] and second["alerts_sent"] == 0 and second["date"] == SESSION
        assert _files(settings) == before  # not a byte changed: store, logs, registry
        assert len(hook.requests) == requests_before

        # The next session: its data arrives and the first forecast's outcome is recorded.
        third = run_daily(settings, now=after_close(NEXT_SESSION), yahoo_reachable=offline)
    assert third["status"] == "ok" and third["date"] == NEXT_SESSION
    outcomes = next(a for a in third["actions"] if a["action"] == "outcomes")
    assert outcomes["recorded"] >= 1
    record = next(r for r in jsonlog.read(settings.logs_dir / OUTCOME_LOG) if r["as_of"] == SESSION)
    closes = store.read(settings.store_dir, symbols=[universe.index_symbol]).set_index("date")["close"]
    expected = "UP" if closes[NEXT_SESSION] > closes[SESSION] else "DOWN"
    assert record["target_date"] == NEXT_SESSION and record["realized"] == expected
    assert record["correct"] == (expected == forecast["direction"])
    states = jsonlog.read(settings.logs_dir / DAILY_LOG)
    assert [(s["date"], s["status"]) for s in states] == [(SESSION, "ok"), (NEXT_SESSION, "ok")]


@pytest.mark.parametrize("day", ["2022-01-26", "2022-03-05", "2022-03-01"])
def test_nothing_happens_on_a_bse_holiday_or_a_weekend(home, day):
    summary = run_daily(home, now=after_close(day), yahoo_reachable=offline)
    assert summary["status"] == "skipped" and summary["changed"] is False and summary["actions"] == []
    assert "not a BSE session" in summary["message"] and summary["date"] == day
    assert not home.home.exists() or not any(home.home.rglob("*"))


def _hold_lock(home, since: datetime | None = None) -> subprocess.Popen:
    """Another process holding the daily lock, as a concurrent `sensex daily` would."""
    code = (
        "import fcntl, json, sys, os\n"
        f"handle = open({str(home / LOCK_FILE)!r}, 'a+')\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "handle.truncate(0)\n"
        f"handle.write(json.dumps({{'pid': os.getpid(), 'since': {(since or datetime.now(UTC)).isoformat()!r}}}))\n"
        "handle.flush()\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    (home / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_concurrent_run_exits_saying_another_run_holds_the_lock(home):
    holder = _hold_lock(home.home)
    try:
        summary = run_daily(home, now=after_close(SESSION), yahoo_reachable=offline)
    finally:
        holder.communicate("")
    assert summary["status"] == "locked" and summary["changed"] is False and summary["actions"] == []
    assert f"process {holder.pid}" in summary["message"]
    assert not (home.logs_dir / DAILY_LOG).exists() and not store.exists(home.store_dir)


def test_a_lock_held_for_hours_is_reported_as_a_failure_and_alerted(home):
    with Hook() as hook:
        _alerts_file(home.home, hook, [{"when": "daily_failed"}])
        holder = _hold_lock(home.home, since=datetime.now(UTC) - timedelta(hours=7))
        try:
            summary = run_daily(home, now=after_close(SESSION), yahoo_reachable=offline)
        finally:
            holder.communicate("")
    assert summary["status"] == "failed" and "may be hung" in summary["message"]
    assert hook.events() == ["daily_failed"] and summary["alerts_sent"] == 1


def test_data_not_ready_fails_the_day_alerts_and_the_next_run_retries(home, market):
    # Real (csv) data to 2021-12-31 and no network: `auto` keeps the store as it is, so 2022-03-02 is missing.
    store.write(home.store_dir, market, "csv")
    settings = _settings(home.home, source="auto")
    with Hook() as hook:
        _alerts_file(home.home, hook, [{"when": "data_not_ready"}, {"when": "daily_failed"}])
        first = run_daily(settings, now=after_close(SESSION), yahoo_reachable=offline)
        assert first["status"] == "failed" and first["alerts_sent"] == 2
        assert hook.events() == ["data_not_ready", "daily_failed"]
        message = hook.requests[0]["body"]["message"]
        assert f"Data for session {SESSION} is not ready" in message and "2021-12-31" in message
        assert hook.requests[0]["body"]["details"]["stale"] is True
        update = first["actions"][0]
        assert update["action"] == "update" and update["status"] == "failed"
        assert not any(a["action"] == "forecast" for a in first["actions"])
        # Not done, so the next run tries again (and fails again: still no data).
        second = run_daily(settings, now=after_close(SESSION) + timedelta(hours=1), yahoo_reachable=offline)
    assert second["status"] == "failed" and second["actions"][0]["action"] == "update"
    assert [s["status"] for s in jsonlog.read(home.logs_dir / DAILY_LOG)] == ["failed", "failed"]


def test_no_production_model_fails_the_day_with_the_usual_sentence(home, market):
    store.write(home.store_dir, market, "synthetic")
    summary = run_daily(_settings(home.home), now=after_close("2022-01-04"), yahoo_reachable=offline)
    assert summary["status"] == "failed"
    forecast = summary["actions"][-1]
    assert forecast["action"] == "forecast" and forecast["status"] == "failed"
    assert forecast["error"] == "No production model: run `sensex train` then `sensex registry setup`."
    assert summary["actions"][0]["status"] == "done"  # the data update itself worked


@pytest.mark.slow
def test_a_scheduled_retrain_trains_a_challenger_and_a_refused_promotion_is_alerted(daily_home, tmp_path):
    settings = daily_home
    strict = tmp_path / "strict.yaml"
    strict_config = TINY_CONFIG.replace("min_auc: 0.0,", "min_auc: 0.99,")
    assert strict_config != TINY_CONFIG  # the tiny preset's gate changed under this test once
    strict.write_text(strict_config)
    (settings.home / "daily.yaml").write_text(
        f"retrain_every_sessions: 5\nretrain_on_drift: false\npreset: {strict}\n")
    with Hook() as hook:
        _alerts_file(settings.home, hook, [{"when": "promotion"}])
        summary = run_daily(settings, now=after_close(SESSION), yahoo_reachable=offline)
        assert summary["status"] == "ok", summary
        retrain = next(a for a in summary["actions"] if a["action"] == "retrain")
        assert retrain["status"] == "refused" and retrain["run_id"]
        assert "sessions since" in retrain["reason"] and "(schedule: every 5)" in retrain["reason"]
        assert retrain["error"].startswith("The challenger (version 2) fails the promotion gate: its AUC")
        assert retrain["error"].endswith("production version 1 stays.")
        assert hook.events() == ["promotion"] and hook.requests[0]["body"]["details"]["outcome"] == "refused"
        # The challenger is registered; production did not move; the forecast still came from it.
        from sensex.serving import ModelRegistry

        registry = ModelRegistry(settings)
        assert registry.get_production_model()["version"] == "1"
        assert any(v["run_id"] == retrain["run_id"] for v in registry.list_all_versions())
        forecast = next(a for a in summary["actions"] if a["action"] == "forecast" and a["mode"] == "close")
        assert forecast["status"] == "done" and forecast["model_version"] == "1"
        again = run_daily(settings, now=after_close(SESSION), yahoo_reachable=offline)
    assert again["status"] == "already_done" and len(hook.requests) == 1


def _cli(args, home, **env):
    full = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING", **env}
    return subprocess.run([sys.executable, "-m", "sensex", "daily", *args], env=full, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_cli_exit_codes_and_json(daily_home, tmp_path, market):
    home = daily_home.home
    first = _cli(["--json", "--date", SESSION], home, SENSEX_DATA_SOURCE="synthetic")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {"date", "actions", "changed", "alerts_sent"} <= set(summary) and summary["changed"] is True
    again = _cli(["--json", "--date", SESSION], home, SENSEX_DATA_SOURCE="synthetic")
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False
    bad = _cli(["--json", "--date", SESSION, "--alerts", str(tmp_path / "missing.yaml")], home)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert json.loads(bad.stdout) == {"error": bad.stderr.strip().removeprefix("error: "), "exit_code": 2}
    assert "missing.yaml does not exist" in bad.stderr
    # A day whose data is not there: exit 1, the summary still on stdout.
    stale_home = tmp_path / "stale"
    store.write(stale_home / "store", market, "csv")
    failed = _cli(["--json", "--date", SESSION], stale_home, SENSEX_DATA_SOURCE="csv",
                  SENSEX_CSV_DIR=str(tmp_path / "no-such-dir"))
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "failed"
    assert failed.stderr.strip().splitlines()[-1].startswith("error: Session 2022-03-02: 1 step(s) failed")


def test_a_preopen_forecast_waiting_for_the_sp500_close_is_not_a_failure_and_the_next_run_makes_it(home):
    """The daily job's bookkeeping for a mode whose data closes overnight (the pre-open forecast itself
    is tested in test_preopen.py): waiting is not done, not failed, and the next run retries it."""
    from sensex.core.errors import DataError
    from sensex.jobs.daily import DailyConfig, DailyJob
    from sensex.jobs.modes import ModeJobs

    calls = []

    class Preopen(ModeJobs):
        def forecast(self, settings, as_of):
            calls.append(as_of)
            if len(calls) == 1:
                raise DataError("The pre-open forecast for 2022-03-03 needs the S&P 500 close of 2022-03-02 (...).")
            return {"as_of": as_of, "target_date": NEXT_SESSION, "direction": "UP", "probability": 0.6,
                    "confidence": "Medium", "model_version": "1", "synthetic": True, "note": ""}

    mode = Preopen("preopen")
    assert mode.waits_for_overnight and mode.model_name("sensex") == "sensex-preopen-model"
    session = datetime.fromisoformat(SESSION)
    evening = DailyJob(home, DailyConfig(), after_close(SESSION), pd.Timestamp(session), set())
    evening.forecast(mode)
    summary = evening.summary({"date": SESSION}, None, {})
    assert summary["status"] == "waiting" and "forecast:preopen" not in summary["done"]
    assert summary["actions"][0]["status"] == "waiting" and "before the BSE open" in summary["actions"][0]["message"]
    morning = DailyJob(home, DailyConfig(), after_close(SESSION) + timedelta(hours=14), pd.Timestamp(session),
                       set(summary["done"]))
    morning.forecast(mode)
    done = morning.summary({"date": SESSION}, None, {})
    assert done["status"] == "ok" and "forecast:preopen" in done["done"] and calls == [SESSION, SESSION]
    # A pre-open forecast refused for another reason, or a close forecast refused, is a failure.
    close = DailyJob(home, DailyConfig(), after_close(SESSION), pd.Timestamp(session), set())

    class BrokenClose(ModeJobs):
        def forecast(self, settings, as_of):
            raise DataError("No member has usable data on the last stored session: run `sensex data status`.")

    close.forecast(BrokenClose("close"))
    assert close.summary({"date": SESSION}, None, {})["status"] == "failed"


def _report(performance: tuple[str, bool], features: tuple[str, bool], live: tuple[str, bool]) -> dict:
    """A drift report as `ModelServer.drift` gives it, with each part's (severity, judged)."""
    from sensex.monitoring.drift import RECOMMENDATION, worst

    parts = {name: {"severity": severity, "judged": judged,
                    "reason": f"{name} reason ({'judged' if judged else 'too few sessions'})."}
             for name, (severity, judged) in zip(("performance", "features", "live"), (performance, features, live),
                                                 strict=True)}
    severity = worst(*(part["severity"] for part in parts.values()))
    return {"version": "3", "mode": "close", **parts, "severity": severity, "recommendation": RECOMMENDATION[severity],
            "drift_detected": parts["performance"]["severity"] == "retrain", "window": ["2022-01-03", "2022-03-01"],
            "n": 40}


def _drift_step(home, report: dict | Exception):
    from sensex.jobs.daily import DailyConfig, DailyJob
    from sensex.jobs.modes import ModeJobs

    seen = []

    class Reported(ModeJobs):
        def drift(self, settings, promotion=None):
            seen.append(promotion)
            if isinstance(report, Exception):
                raise report
            return report

    job = DailyJob(home, DailyConfig(), after_close(SESSION), pd.Timestamp(SESSION), set())
    severity = job.drift(Reported("close"))
    assert seen and seen[0] is not None  # the daily preset's gate gives the tolerance
    return severity, job.summary({"date": SESSION}, None, {}), job.events


def test_daily_drift_takes_the_reports_overall_severity_and_names_the_parts_that_flag(home):
    severity, summary, events = _drift_step(home, _report(("ok", True), ("watch", True), ("not_judged", False)))
    assert severity == "watch" and summary["status"] == "ok" and "drift:close" in summary["done"]
    action = summary["actions"][0]
    assert action["status"] == "done" and action["severity"] == "watch" and action["n"] == 40
    assert {name: part["severity"] for name, part in action["parts"].items()} == \
        {"performance": "ok", "features": "watch", "live": "not_judged"}
    assert action["parts"]["live"]["judged"] is False
    message = events[0].message
    assert events[0].kind == "drift" and events[0].details["severity"] == "watch"
    assert "features says watch: features reason (judged)" in message
    assert "performance says" not in message  # an ok part is not named as a problem
    assert "not judged yet, too few sessions: live" in message and "live says" not in message

    severity, _, events = _drift_step(home, _report(("retrain", True), ("watch", True), ("ok", True)))
    assert severity == "retrain"
    assert "performance says retrain" in events[0].message and "features says watch" in events[0].message


def test_daily_drift_with_nothing_to_judge_is_a_skip_and_a_broken_report_a_failure(home):
    from sensex.core.errors import DataError

    severity, summary, events = _drift_step(home, _report(("not_judged", False), ("not_judged", False),
                                                          ("not_judged", False)))
    assert severity is None and summary["status"] == "ok" and events == []
    action = summary["actions"][0]
    assert action["status"] == "skipped" and action["message"].startswith("Nothing to judge yet:")
    assert "drift:close" in summary["done"]

    severity, summary, _ = _drift_step(home, DataError("The store has no SENSEX index rows: run `sensex data update`."))
    assert severity is None and summary["status"] == "failed"
    assert summary["errors"] == ["drift (close): The store has no SENSEX index rows: run `sensex data update`."]


@pytest.mark.parametrize(("day", "says"), [
    ("2099-03-01", "--date 2099-03-01 is after the last completed BSE session"),
    ("12/07/2026", "write 2026-07-12 for 12 July 2026 (day first) or write 2026-12-07 for 7 December 2026"),
])
def test_daily_refuses_a_date_with_no_closed_session_and_a_date_it_would_have_to_guess(daily_home, day, says):
    from sensex.core.errors import DateError

    before = _files(daily_home)
    with pytest.raises(DateError, match=says.replace("(", r"\(").replace(")", r"\)")):
        run_daily(daily_home, day=day, yahoo_reachable=offline)
    assert _files(daily_home) == before  # nothing fetched, invented, scored or trained


def test_no_caller_clock_makes_the_store_hold_a_session_that_has_not_closed(tmp_path, market):
    """The daily job hands its clock to the update; a clock in the future must not make the
    synthetic market invent sessions after the real last completed one."""
    from sensex.data.ingest import update_store
    from sensex.market import calendar
    from sensex.market.universe import load_universe

    settings = _settings(tmp_path / "home")
    store.write(settings.store_dir, market, "synthetic")
    future = datetime(2099, 3, 2, 18, 0, tzinfo=IST)
    result = update_store(settings, load_universe("sensex"), "synthetic", now=future, yahoo_reachable=offline)
    completed = calendar.last_completed_session().date()
    assert pd.Timestamp(result["last_date"]).date() <= completed
    assert store.read(settings.store_dir)["date"].max().date() <= completed


@pytest.mark.parametrize(("drifting_part", "trains"), [("features", False), ("live", False), ("performance", True)])
def test_a_drift_retrain_waits_for_the_cooldown_unless_performance_drifts(tmp_path, drifting_part, trains):
    """Feature or live drift retrains at most once per `retrain_cooldown_sessions` (20 by default);
    the model's own performance drifting retrains at once."""
    from sensex.jobs.daily import DailyConfig, DailyJob
    from sensex.jobs.modes import ModeJobs

    settings = _settings(tmp_path / "home")
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    jsonlog.append(settings.logs_dir / DAILY_LOG, {"date": "2022-02-23", "status": "ok", "done": ["retrain:close"]})
    report = _report(*[("retrain", True) if name == drifting_part else ("ok", True)
                       for name in ("performance", "features", "live")])
    trained = []

    class Drifting(ModeJobs):
        def drift(self, settings, promotion=None):
            return report

        def train(self, settings, preset, model):
            trained.append(preset)
            raise RuntimeError("a retrain started")

    job = DailyJob(settings, DailyConfig(), after_close(SESSION), pd.Timestamp(SESSION), set())
    mode = Drifting("close")
    job.retrain(mode, job.drift(mode))
    assert bool(trained) is trains
    retrain = [a for a in job.summary({"date": SESSION}, None, {})["actions"] if a["action"] == "retrain"]
    if not trains:
        assert retrain[0]["status"] == "skipped" and "the last retrain was 4 sessions ago" in retrain[0]["message"]


def test_a_daily_job_killed_before_its_record_logs_no_second_forecast_when_run_again(daily_home):
    """The forecast is appended to the prediction log before the job's own record: a kill between
    the two leaves the day unfinished, and the rerun redoes the forecast without a second line."""
    from sensex.core.cache import get_cache

    get_cache(daily_home).clear()  # another test's copy of this home left the same forecast in memory
    first = run_daily(daily_home, now=after_close(SESSION), yahoo_reachable=offline)
    assert first["status"] == "ok"
    (daily_home.logs_dir / DAILY_LOG).unlink()  # as if killed before the record was written
    get_cache(daily_home).clear()  # the rerun is a new process: nothing in memory
    again = run_daily(daily_home, now=after_close(SESSION), yahoo_reachable=offline)
    assert again["status"] == "ok"
    live = [r for r in jsonlog.read(daily_home.logs_dir / jsonlog.PREDICTION_LOG)
            if r["as_of"] == SESSION and not r.get("back_dated")]
    assert len(live) == 1
