"""A two-node Ray cluster on this machine (`ray start --head` and `ray start --address`, one CPU
each, started and stopped here): a walk-forward with the quick preset's network joins it through
RAY_ADDRESS, runs its blocks on both nodes, and gives the numbers of one process at one thread."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port

from sensex.features.build import build_panel
from sensex.models import cluster
from sensex.models.baselines import BASELINES
from sensex.models.config import load_config
from sensex.models.walkforward import walk_forward

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.ray]

RAY = str(Path(sys.executable).with_name("ray"))
START, END, MONTHS = "2021-01-01", "2021-12-31", 6


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the `ray start --block` we started (its own process group: Ray's processes of that
    node), then SIGKILL what is left of that group after a grace period."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(45)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def _wait_for_nodes(address: str, count: int, seconds: float = 120) -> None:
    probe = (f"import ray, sys; ray.init(address={address!r}, configure_logging=False, log_to_driver=False);"
             f" sys.exit(0 if len([n for n in ray.nodes() if n['Alive']]) >= {count} else 1)")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60).returncode == 0:
            return
        time.sleep(2)
    pytest.fail(f"the Ray cluster at {address} did not show {count} nodes within {seconds:.0f} s")


@pytest.fixture
def two_nodes(monkeypatch):
    """Head and worker, one CPU each, token authentication off on this machine's loopback only;
    yields the head's address."""
    folder = Path(tempfile.mkdtemp(prefix="sxc", dir="/tmp"))  # short: Ray's socket paths
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block"]
    cluster.shutdown()  # a local instance an earlier test left in this process would be used instead
    started = []
    try:
        started.append(subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                                         f"--temp-dir={folder}", *common], env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_nodes(address, 1)
        started.append(subprocess.Popen([RAY, "start", f"--address={address}", *common], env=env,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_nodes(address, 2)
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
        yield address
    finally:
        cluster.shutdown()
        for process in reversed(started):  # the worker node first: it drains through the head
            _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


# The driver: a process of its own that joins the cluster, as `RAY_ADDRESS=... sensex evaluate
# --walk-forward` would be (a process that already ran a local instance keeps that instance's node
# address in Ray's core worker, and the nodes could not reach the objects it owns).
DRIVER = """
import logging, pickle, sys
import ray
from sensex.data.sources import synthetic
from sensex.features.build import build_panel
from sensex.market.universe import load_universe
from sensex.models.config import Config
from sensex.models.walkforward import walk_forward

config_json, start, end, months, first, last, out = sys.argv[1:]
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("sensex.models.cluster").addHandler(Keep())
logging.getLogger("sensex.models.cluster").setLevel(logging.DEBUG)
config = Config.model_validate_json(config_json)
universe = load_universe("sensex")
panel = build_panel(synthetic.generate(universe, first, last), universe)
spread = walk_forward(panel, config, start, end, kinds=("convlstm",), refit_months=int(months), workers=2)
nodes = sorted({m.split(" on node ")[1].split(",")[0] for m in records if "ran on node" in m})
alive = len([n for n in ray.nodes() if n["Alive"]])
with open(out, "wb") as handle:
    pickle.dump({"spread": spread, "nodes": nodes, "alive": alive, "cpus": int(ray.cluster_resources()["CPU"])}, handle)
"""


def test_a_walk_forward_runs_across_two_nodes_with_the_one_process_numbers(two_nodes, market, universe, tmp_path):
    import pickle

    import ray
    from conftest import FIXTURE_END, FIXTURE_START

    # The quick preset's network, epochs and patience, with the validation window and training cap
    # the 3.5 years of the synthetic market leave before each block.
    quick = load_config("quick")
    config = quick.model_copy(update={"train": quick.train.model_copy(
        update={"valid_sessions": 60, "max_train_windows": 250, "workers": 2, "threads": 1})})
    panel = build_panel(market, universe)
    alone = walk_forward(panel, config, START, END, kinds=("convlstm",), refit_months=MONTHS, workers=1)
    assert not ray.is_initialized()  # the reference: one process, one thread, no Ray

    out = tmp_path / "spread.pickle"
    env = {**os.environ, "RAY_ADDRESS": two_nodes, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-c", DRIVER, config.model_dump_json(), START, END, str(MONTHS),
                           FIXTURE_START, FIXTURE_END, str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    with out.open("rb") as handle:
        result = pickle.load(handle)
    spread = result["spread"]
    assert result["alive"] == 2 and result["cpus"] == 2
    assert len(result["nodes"]) == 2, f"the blocks ran on {result['nodes']}, not on both nodes"
    assert [b["fits"]["convlstm"]["weights_sha256"] for b in spread["blocks"]] == \
        [b["fits"]["convlstm"]["weights_sha256"] for b in alone["blocks"]]
    for name in ("label", "convlstm", *BASELINES):
        np.testing.assert_array_equal(spread["predictions"][name], alone["predictions"][name])
    assert spread["pooled"]["convlstm"]["auc"] == alone["pooled"]["convlstm"]["auc"]
