"""Promotions under contention and after kills: the lock, the commit point, `registry doctor`.

The registry is a real local MLflow store with three registered versions whose runs carry test
metrics (no training needed: promotion reads metrics and moves aliases, it never loads a model).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_mlflow_server import mlflow_server  # noqa: F401 - the fixture: a real mlflow server on PostgreSQL

from sensex.core import jsonlog
from sensex.core.errors import RegistryBusy
from sensex.core.settings import load_settings
from sensex.models.config import PromotionConfig
from sensex.registry import tracking
from sensex.registry.gate import GateReport
from sensex.registry.lock import RegistryLock
from sensex.registry.model_registry import MODEL_NAME, PREVIOUS, PRODUCTION, ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OPEN_GATE = PromotionConfig(min_accuracy=0.0, min_auc=0.0)
# These tests are about the lock and the commit point, not the gate: the registered versions have
# metrics but no model to score, so each promotion is handed a passing gate report.
PASSED = GateReport({"basis": "promotion mechanics only"}, {}, {})


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A home with versions 1, 2, 3 registered and version 1 in production."""
    from mlflow import MlflowClient

    home = tmp_path_factory.mktemp("registry-template") / "home"
    settings = load_settings({"SENSEX_HOME": str(home)})
    experiment = tracking.configure(settings)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    for accuracy in (0.55, 0.56, 0.57):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "test_accuracy", accuracy)
        client.log_metric(run.info.run_id, "test_auc", accuracy)
        client.set_terminated(run.info.run_id)
        client.create_model_version(MODEL_NAME, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    ModelRegistry(settings, promotion=OPEN_GATE).promote_model_to_production("1", gate_report=PASSED)
    return home


@pytest.fixture
def home(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the template for each test (the sqlite file holds the registry)."""
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    monkeypatch.setenv("SENSEX_HOME", str(copy))
    return copy


def registry(home: Path) -> ModelRegistry:
    return ModelRegistry(load_settings({"SENSEX_HOME": str(home)}), promotion=OPEN_GATE)


def state(home: Path) -> dict:
    reg = registry(home)
    versions = {str(mv.version): (mv.tags or {}).get("stage") for mv in reg._versions()}
    aliases = {alias: str(version) for alias, version in reg.client.get_registered_model(MODEL_NAME).aliases.items()}
    events = jsonlog.read(reg.settings.logs_dir / jsonlog.PROMOTION_LOG)
    return {"tagged_production": sorted(v for v, s in versions.items() if s == "Production"),
            "production": aliases.get(PRODUCTION), "previous": aliases.get(PREVIOUS), "events": events}


def _child(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or os.environ.copy())


PROMOTER = """
    import pathlib, sys, time
    from sensex.models.config import PromotionConfig
    from sensex.registry.gate import GateReport
    from sensex.serving import ModelRegistry
    from sensex.core.settings import load_settings
    home, version, go, tracking_uri = sys.argv[1:5]
    env = {"SENSEX_HOME": home, **({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {})}
    registry = ModelRegistry(load_settings(env), promotion=PromotionConfig(min_accuracy=0.0, min_auc=0.0))
    registry.list_all_versions()  # imports and connections done before the start line
    print("ready", flush=True)
    while not pathlib.Path(go).exists():
        time.sleep(0.002)
    registry.promote_model_to_production(version, gate_report=GateReport({}, {}, {}))
    print("done", flush=True)
"""


@pytest.mark.parametrize("homes", ["one home", "two homes, one registry"])
def test_two_processes_promoting_at_the_same_moment_leave_one_consistent_state(home, tmp_path, homes):
    """`two homes` stands for two machines: no file lock is shared, only the registry."""
    go = tmp_path / "go"
    shared = load_settings({"SENSEX_HOME": str(home)}).tracking_uri
    second = home if homes == "one home" else tmp_path / "second-home"
    children = [_child(PROMOTER, str(where), version, str(go), shared if where != home else "")
                for where, version in ((home, "2"), (second, "3"))]
    for child in children:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
    after = state(home)
    winner = after["production"]
    first = "2" if winner == "3" else "3"
    assert winner in ("2", "3")
    assert after["tagged_production"] == [winner]
    assert after["previous"] == first  # the one promoted first, not the original production
    events = [(e["event_type"], e["version"]) for e in after["events"]]
    expected = [("archived", "1"), ("promotion", first), ("archived", first), ("promotion", winner)]
    if second == home:
        assert events[-4:] == expected
    else:  # each machine logs its own promotion in its own home
        events += [(e["event_type"], e["version"]) for e in jsonlog.read(second / "logs" / jsonlog.PROMOTION_LOG)]
        assert sorted(events[-4:]) == sorted(expected)
    archived = [v for kind, v in events if kind == "archived"]
    assert len(archived) == len(set(archived))  # nothing archived twice


KILLED_PROMOTER = """
    import os, sys
    from sensex.core import jsonlog
    from sensex.models.config import PromotionConfig
    from sensex.registry.gate import GateReport
    from sensex.registry import model_registry
    from sensex.core.settings import load_settings
    home, version, where = sys.argv[1:4]
    if where == "after-commit":  # the alias has moved; nothing after it ran
        model_registry.ModelRegistry._finish = lambda *a, **k: os._exit(9)
    else:  # between the two log lines: "archived" written, "promotion" not
        real = jsonlog.append
        def append(path, record):
            if record.get("event_type") == "promotion":
                os._exit(9)
            real(path, record)
        jsonlog.append = append
    registry = model_registry.ModelRegistry(load_settings({"SENSEX_HOME": home}), promotion=PromotionConfig(min_accuracy=0.0, min_auc=0.0))
    registry.promote_model_to_production(version, gate_report=GateReport({}, {}, {}))
"""


def _doctor(home: Path) -> dict:
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "sensex", "registry", "doctor", "--json"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("where", ["after-commit", "between-log-lines"])
def test_a_promotion_killed_after_its_commit_point_is_completed_by_doctor(home, where):
    before = state(home)
    child = _child(KILLED_PROMOTER, str(home), "2", where)
    _, err = child.communicate(timeout=180)
    assert child.returncode == 9, err
    crashed = state(home)
    assert crashed["production"] == "2"  # the commit point was passed
    assert ("promotion", "2") not in [(e["event_type"], e["version"]) for e in crashed["events"]]
    if where == "after-commit":
        assert crashed["tagged_production"] == ["1"] and crashed["previous"] == before["previous"]

    report = _doctor(home)
    assert report["changed"] is True and report["production"] == "2"
    repaired = state(home)
    assert repaired["tagged_production"] == ["2"] and repaired["previous"] == "1"
    new = repaired["events"][len(before["events"]):]
    assert [(e["event_type"], e["version"]) for e in new] == [("archived", "1"), ("promotion", "2")]
    assert new[-1]["reconciled"] is True and new[-1]["metrics"]["test_accuracy"] == pytest.approx(0.56)
    assert len({e["promotion_id"] for e in new}) == 1

    again = _doctor(home)
    assert again["changed"] is False and again["repairs"] == []
    assert len(state(home)["events"]) == len(repaired["events"])


KILLED_BEFORE_COMMIT = """
    import os, sys
    from sensex.models.config import PromotionConfig
    from sensex.registry.gate import GateReport
    from sensex.serving import ModelRegistry
    from sensex.core.settings import load_settings
    home, version = sys.argv[1:3]
    registry = ModelRegistry(load_settings({"SENSEX_HOME": home}), promotion=PromotionConfig(min_accuracy=0.0, min_auc=0.0))
    registry.lock().verify = lambda: os._exit(9)  # dies holding the lock, just before the alias moves
    registry.promote_model_to_production(version, gate_report=GateReport({}, {}, {}))
"""


def test_a_promotion_killed_before_its_commit_point_changes_nothing(home):
    before = state(home)
    child = _child(KILLED_BEFORE_COMMIT, str(home), "3")
    _, err = child.communicate(timeout=180)
    assert child.returncode == 9, err
    assert state(home) == before
    assert _doctor(home)["repairs"] == []
    # The lock the killed process held does not block the next promotion.
    assert registry(home).promote_model_to_production("3", gate_report=PASSED)["version"] == "3"


def test_doctor_fixes_tags_that_disagree_with_the_aliases(home):
    reg = registry(home)
    reg.client.set_model_version_tag(MODEL_NAME, "3", "stage", "Production")  # the race's leftover
    report = reg.doctor()
    assert any("v3 tagged Archived" in change for change in report["repairs"])
    assert state(home)["tagged_production"] == ["1"]


def test_rollback_under_the_lock_keeps_previous_right(home):
    reg = registry(home)
    reg.promote_model_to_production("2", gate_report=PASSED)
    back = reg.rollback()
    after = state(home)
    assert back["version"] == "1" and after["previous"] == "2" and after["tagged_production"] == ["1"]
    assert after["events"][-1]["event_type"] == "rollback" and reg.doctor()["changed"] is False


# -- the lock itself -----------------------------------------------------------------------------------

HOLDER = """
    import sys, time
    from mlflow import MlflowClient
    from sensex.registry.lock import RegistryLock
    from sensex.core.settings import load_settings
    from pathlib import Path
    home = sys.argv[1]
    settings = load_settings({"SENSEX_HOME": home})
    lock = RegistryLock(MlflowClient(tracking_uri=settings.tracking_uri), "sensex-convlstm-model", Path(home))
    lock.__enter__()
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_live_holder_excludes_and_a_killed_one_does_not(home):
    reg = registry(home)
    holder = _child(HOLDER, str(home))
    try:
        assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
        contender = RegistryLock(reg.client, MODEL_NAME, home / "elsewhere", wait_seconds=1.5)  # another home: only the registry lock is shared
        with pytest.raises(RegistryBusy, match="holds the registry lock"):
            contender.__enter__()
        same_home = RegistryLock(reg.client, MODEL_NAME, home, wait_seconds=1.0)
        with pytest.raises(RegistryBusy, match="this machine"):
            same_home.__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    started = time.monotonic()
    with RegistryLock(reg.client, MODEL_NAME, home / "elsewhere", wait_seconds=5):
        pass  # the dead holder's lock is taken over at once, not after its lease
    assert time.monotonic() - started < 5


def test_another_machines_lock_is_respected_until_its_lease_runs_out(home):
    reg = registry(home)
    foreign = {"lock.host": "other-host", "lock.boot_id": "x", "lock.pid": "1", "lock.pid_started": "1"}
    held = reg.client.create_experiment(f".promotion-lock/{MODEL_NAME}/7",
                                        tags={**foreign, "lease_until": str(time.time() + 3600)})
    with pytest.raises(RegistryBusy, match="other-host"):
        RegistryLock(reg.client, MODEL_NAME, home, wait_seconds=1).__enter__()
    reg.client.set_experiment_tag(held, "lease_until", str(time.time() - 1))
    lock = RegistryLock(reg.client, MODEL_NAME, home, wait_seconds=5)
    with lock:
        assert lock.number == 8
        lock.verify()


def test_the_lock_leaves_no_registered_model_and_no_visible_experiment(home):
    """Users read the registry's model list and the UI's experiments: a lock is in neither once
    released; a registered model left as a lock by an earlier version is removed."""
    from mlflow.entities import ViewType

    reg = registry(home)
    reg.client.create_registered_model(f"{MODEL_NAME}.promotion-lock.3", tags={"released": "true"})
    for _ in range(3):
        with RegistryLock(reg.client, MODEL_NAME, home, wait_seconds=5):
            pass
    assert [m.name for m in reg.client.search_registered_models() if "promotion-lock" in m.name] == []
    active = [e.name for e in reg.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    assert not [name for name in active if "promotion-lock" in name]
    numbers = sorted(int(e.name.rsplit("/", 1)[1]) for e in reg.client.search_experiments(view_type=ViewType.ALL)
                     if e.name.startswith(".promotion-lock/"))
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3  # it goes on through deleted locks


# -- runs and scratch left by killed processes -----------------------------------------------------------

KILLED_TRAINER = """
    import os, signal, sys
    import mlflow
    from sensex.core import processes
    from sensex.registry import tracking
    from sensex.core.settings import load_settings
    settings = load_settings({"SENSEX_HOME": sys.argv[1]})
    experiment = tracking.configure(settings)
    run = mlflow.start_run(experiment_id=experiment, tags=processes.current_owner().tags())
    with processes.scratch_dir(settings.home, "train") as scratch:
        (scratch / "bundle").mkdir()
        print(run.info.run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_doctor_fails_runs_and_removes_scratch_of_killed_processes(home):
    from mlflow import MlflowClient

    from sensex.core import processes
    from sensex.data import store

    child = _child(KILLED_TRAINER, str(home))
    out, err = child.communicate(timeout=180)
    assert child.returncode == -signal.SIGKILL, err
    killed_run = out.strip()
    settings = load_settings({"SENSEX_HOME": str(home)})
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = tracking.configure(settings)
    me = processes.current_owner()
    live = client.create_run(experiment, tags=me.tags()).info.run_id
    # The same pid, but the run began before this process did: the pid was reused, its owner is gone.
    reused = client.create_run(experiment, tags={**me.tags(), "sensex.pid_started": f"{me.started - 1000:.2f}"}).info.run_id
    old_untagged = client.create_run(experiment, start_time=int((time.time() - 30 * 3600) * 1000)).info.run_id
    new_untagged = client.create_run(experiment).info.run_id
    left_scratch = [p for p in (home / processes.SCRATCH).iterdir()]
    assert len(left_scratch) == 1
    store_dir = settings.store_dir
    store_dir.mkdir(parents=True, exist_ok=True)
    dead_tmp = store_dir / f".{left_scratch[0].name.split('+train+')[0]}+ohlcv.parquet+abc.tmp"
    dead_tmp.write_bytes(b"half")
    with processes.scratch_dir(home, "live") as mine:
        report = registry(home).doctor()
        assert mine.exists()
    assert set(report["failed_runs"]) == {killed_run, reused, old_untagged}
    status = {r: client.get_run(r).info.status for r in (killed_run, live, reused, old_untagged, new_untagged)}
    assert status == {killed_run: "FAILED", live: "RUNNING", reused: "FAILED", old_untagged: "FAILED", new_untagged: "RUNNING"}
    assert not left_scratch[0].exists() and not dead_tmp.exists()
    assert str(left_scratch[0]) in report["removed"]
    client.set_terminated(live)
    client.set_terminated(new_untagged)
    assert store.abandoned_temp_files(store_dir) == []


@pytest.mark.services
def test_two_machines_sharing_an_mlflow_server_promote_one_at_a_time(mlflow_server, tmp_path):  # noqa: F811 - the fixture
    """Two homes (two machines) and one `mlflow server` on PostgreSQL: only the lock held in the
    registry is shared, through the server's REST API."""
    from mlflow import MlflowClient

    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    settings = load_settings({"SENSEX_HOME": str(homes[0]), "MLFLOW_TRACKING_URI": mlflow_server})
    experiment = tracking.configure(settings)
    client = MlflowClient(tracking_uri=mlflow_server)
    client.create_registered_model(MODEL_NAME)
    for accuracy in (0.55, 0.56, 0.57):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "test_accuracy", accuracy)
        client.log_metric(run.info.run_id, "test_auc", accuracy)
        client.set_terminated(run.info.run_id)
        client.create_model_version(MODEL_NAME, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    ModelRegistry(settings, promotion=OPEN_GATE).promote_model_to_production("1", gate_report=PASSED)
    go = tmp_path / "go"
    children = [_child(PROMOTER, str(home), version, str(go), mlflow_server) for home, version in zip(homes, ("2", "3"), strict=True)]
    for child in children:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    go.touch()
    for child in children:
        _, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
    reg = ModelRegistry(settings, promotion=OPEN_GATE)
    aliases = {alias: str(version) for alias, version in client.get_registered_model(MODEL_NAME).aliases.items()}
    tagged = sorted(str(mv.version) for mv in reg._versions() if (mv.tags or {}).get("stage") == "Production")
    winner = aliases[PRODUCTION]
    assert tagged == [winner] and aliases[PREVIOUS] == ("2" if winner == "3" else "3")
    archived = [e["version"] for home in homes for e in jsonlog.read(home / "logs" / jsonlog.PROMOTION_LOG)
                if e["event_type"] == "archived"]
    assert sorted(archived) == sorted(["1", aliases[PREVIOUS]])
