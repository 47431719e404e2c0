"""Training's fan-out on a local Ray instance (`sensex.models.cluster`): where it keeps its files,
how its tasks log, a worker killed mid-fit (a retry, not a failed run), several models trained at
once by one command, and a cluster refused when MLflow is a file on this machine."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG

from sensex.core.settings import get_settings, load_settings
from sensex.features.build import build_panel
from sensex.market.universe import load_universe
from sensex.models import cluster
from sensex.models.config import config_from_dict
from sensex.models.segments import split_segments

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.ray]

# Seeds long enough (a few seconds each at one thread) for a worker to be killed in the middle of one.
FIT = {
    "model": {"hidden": 4, "projection": 4, "dropout": 0.0, "ensemble_seeds": 3},
    "train": {"epochs": 6, "patience": 6, "max_train_windows": 400, "valid_sessions": 60, "test_sessions": 60,
              "batch_size": 32, "workers": 2, "threads": 2},
}


@pytest.fixture(scope="module")
def local_ray():
    """One local instance for the module, in a home short enough for Ray's sockets, stopped after."""
    home = Path(tempfile.mkdtemp(prefix="sxr", dir="/tmp"))
    try:
        where = cluster.start(2, home)
        yield home, where
    finally:
        cluster.shutdown()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


def test_the_local_instance_keeps_its_files_in_the_home_without_dashboard_or_usage_reports(local_ray):
    import ray

    home, where = local_ray
    assert where == "a local Ray instance of 2 CPUs"
    node = ray._private.worker.global_worker.node
    assert Path(node.get_session_dir_path()).parent == home / "tmp"
    assert not node.address_info.get("webui_url")  # no dashboard
    assert os.environ.get("RAY_USAGE_STATS_ENABLED") == "0"  # nothing reported to Ray's servers
    # A path too long for Ray's sockets goes to a short folder of the system's, said in the log.
    long_home = Path("/tmp") / ("h" * 60)
    assert str(cluster.temp_dir(long_home)).startswith(tempfile.gettempdir())
    assert cluster.temp_dir(home) == home / "tmp"


def _kill_the_first_fit(name: str, after: float, killed: list[int], stop: threading.Event) -> None:
    """Kill -9 the first Ray worker seen running task `name` once it has run for `after` seconds."""
    seen: dict[int, float] = {}
    while not stop.is_set() and not killed:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(f"ray::{name}".encode()):
                pid = int(entry.name)
                first = seen.setdefault(pid, time.monotonic())
                if time.monotonic() - first >= after:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.05)


def test_a_worker_killed_mid_fit_costs_a_retry_and_the_networks_are_the_same(local_ray, panel, caplog):
    """The ensemble's seeds as Ray tasks, one worker killed -9 in the middle of its fit: the task
    runs again and the networks (and combined forecasts) are those of one process at one thread."""
    from sensex.models.baselines import fit_baselines
    from sensex.models.train import fit_ensemble
    from sensex.models.walkforward import _weights_digest

    config = config_from_dict(FIT, "fit")
    segments = split_segments(panel, config)
    portable = fit_baselines(panel, segments.train)
    alone = fit_ensemble(panel, segments, config.with_train(workers=1, threads=1), portable)

    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_the_first_fit, args=("fit_fold", 1.0, killed, stop), daemon=True)
    killer.start()
    caplog.set_level(logging.INFO, logger="sensex.models.fitting")
    caplog.set_level(logging.DEBUG, logger="sensex.models.cluster")  # last: the capture's level is the last one set
    try:
        fanned = fit_ensemble(panel, segments, config, portable)
    finally:
        stop.set()
        killer.join(10)
    assert killed, "no worker was seen fitting a seed: nothing was killed"
    assert [_weights_digest(n) for n in fanned.network.networks] == [_weights_digest(n) for n in alone.network.networks]
    for segment in ("valid", "test"):
        np.testing.assert_array_equal(fanned.probability[segment], alone.probability[segment])
    assert fanned.seed_epochs == alone.seed_epochs
    # The tasks' own log lines come back through this process's logging, with where they ran.
    ran = [r.getMessage() for r in caplog.records if r.name == "sensex.models.cluster" and "ran on node" in r.getMessage()]
    assert len(ran) == 3 and all(f"process {killed[0]}" not in line for line in ran)
    assert any(r.name == "sensex.models.fitting" and r.getMessage().startswith("epoch ") for r in caplog.records)


def test_an_error_in_a_task_is_the_error_itself_not_rays_wrapping(local_ray, panel):
    """A task that fails fails the call with its own exception and sentence, once (no retries)."""
    import dataclasses

    from sensex.core.errors import DataError
    from sensex.models.train import check_usable

    unusable = dataclasses.replace(panel, available=np.zeros_like(panel.available))
    with pytest.raises(DataError) as raised:
        list(cluster.fan_out(check_usable, [(unusable,), (unusable,)], 2))
    assert type(raised.value) is DataError and str(raised.value).startswith("Every member's indicators are undefined")
    assert "\n" not in str(raised.value)


@pytest.fixture(scope="module")
def two_universes(tmp_path_factory):
    from sensex.data.ingest import update_store

    root = tmp_path_factory.mktemp("many")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    for name in ("sensex", "nifty50"):
        update_store(settings.model_copy(update={"universe": name}), load_universe(name), "synthetic",
                     start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    preset = root / "tiny.yaml"
    preset.write_text(TINY_CONFIG)
    return settings, preset


def test_one_command_trains_every_universe_and_mode_each_its_own_run(local_ray, two_universes, monkeypatch, capsys):
    """`sensex train --universe sensex,nifty50 --mode close,preopen`: four Ray tasks, four MLflow
    runs tagged with their universe and mode, one table; each registers under its own name."""
    from mlflow import MlflowClient

    from sensex.interfaces import cli
    from sensex.registry import tracking
    from sensex.registry.model_registry import ModelRegistry

    settings, preset = two_universes
    monkeypatch.setenv("SENSEX_HOME", str(settings.home))
    get_settings.cache_clear()
    assert cli.run(["train", "--preset", str(preset), "--universe", "sensex,nifty50", "--mode", "close,preopen",
                    "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["where"] == "a local Ray instance of 2 CPUs"
    runs = result["runs"]
    assert [(r["universe"], r["mode"]) for r in runs] == [("sensex", "close"), ("sensex", "preopen"),
                                                          ("nifty50", "close"), ("nifty50", "preopen")]
    assert [r["registered_model"] for r in runs] == ["sensex-convlstm-model", "sensex-preopen-model",
                                                     "nifty50-convlstm-model", "nifty50-preopen-model"]
    assert len({r["run_id"] for r in runs}) == 4 and all(0 <= r["metrics"]["test_auc"] <= 1 for r in runs)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    for run in runs:
        tags = client.get_run(run["run_id"]).data.tags
        assert (tags[tracking.UNIVERSE_TAG], tags[tracking.MODE_TAG]) == (run["universe"], run["mode"])
    # Each run registers under its own registered model, as a single `sensex train` would.
    nifty_preopen = ModelRegistry(settings.model_copy(update={"universe": "nifty50"}), mode="preopen")
    assert nifty_preopen.register_new_runs() == ["1"]
    assert [v["run_id"] for v in nifty_preopen.list_all_versions()] == [runs[3]["run_id"]]

    assert cli.run(["train", "--preset", str(preset), "--universe", "sensex", "--mode", "close,preopen"]) == 0
    table = capsys.readouterr().out
    assert "| universe | mode | run | registered model |" in table
    assert "| sensex | close |" in table and "| sensex | preopen |" in table and "sensex-preopen-model" in table


def test_joining_a_cluster_with_mlflow_in_a_local_file_is_refused_in_one_sentence(home, tiny_config, monkeypatch,
                                                                                   capsys):
    from sensex.interfaces import cli

    # Recorded as unset, so the address the CLI sets is removed after the test (delenv of an unset
    # variable records nothing: the address would outlive the test and send later training there).
    monkeypatch.setenv("RAY_ADDRESS", "")
    assert cli.run(["train", "--preset", str(tiny_config), "--ray-address", "127.0.0.1:1", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: RAY_ADDRESS=127.0.0.1:1 joins a Ray cluster")
    assert "set MLFLOW_TRACKING_URI to the tracking server" in err[0]
