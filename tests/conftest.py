"""Shared fixtures. Everything is offline: data comes from the synthetic market."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from bench_scripts import REAL_SENSEX

from sensex.core.settings import get_settings, load_settings
from sensex.data.sources import synthetic
from sensex.market.universe import load_universe
from sensex.models.config import PromotionConfig

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REAL_SENSEX
# A fixed end keeps every test independent of today's date.
FIXTURE_START, FIXTURE_END = "2018-06-01", "2021-12-31"

# A model trained in seconds to exercise the pipeline, not to be good: its gate admits anything
# (coins included), so that registry and serving tests do not depend on a 60-row test window.
TINY_CONFIG = """
name: tiny
model: {hidden: 4, projection: 4, dropout: 0.0}
train: {epochs: 2, patience: 1, max_train_windows: 200, valid_sessions: 60, test_sessions: 60, batch_size: 32}
promotion: {min_accuracy: 0.0, min_auc: 0.0, min_probability_sd: 0.0, brier_below_always_up: false, auc_above_naive: false,
            range_beats_ewma: false, not_worse_than_baselines: false}
"""
TINY_GATE = PromotionConfig(min_accuracy=0.0, min_auc=0.0, min_probability_sd=0.0, brier_below_always_up=False,
                            auc_above_naive=False, range_beats_ewma=False,
                            not_worse_than_baselines=False)


def free_port() -> int:
    """A TCP port nobody listens on right now, for servers the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 90, path: str = "/version") -> None:
    """Poll `url + path` until it answers 200; fail with the process's last output if it exits first.
    (A server the tests start: an API, an MLflow server; busy 2-core machines start them slowly.)"""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read()[-2000:] if process.stderr else ""
            pytest.fail(f"{url}: the server exited with {process.returncode}: {output}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url}{path} did not answer within {seconds:.0f} s")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    """No test sees the developer's SENSEX_HOME, MLflow server or Redis unless it asks."""
    for name in ("MLFLOW_TRACKING_URI", "SENSEX_REDIS_URL", "SENSEX_API_URL", "SENSEX_DATA_SOURCE", "SENSEX_CSV_DIR",
                 "SENSEX_UNIVERSE"):
        monkeypatch.delenv(name, raising=False)
    if "SENSEX_HOME" not in os.environ or not os.environ["SENSEX_HOME"].startswith(str(tmp_path_factory.getbasetemp())):
        monkeypatch.setenv("SENSEX_HOME", str(tmp_path_factory.mktemp("home")))
    get_settings.cache_clear()
    before = dict(os.environ)
    main = sys.modules["__main__"]
    yield
    # Code under test may set variables directly (`use_universe` does, for the processes it starts);
    # none of them may reach the next test.
    os.environ.clear()
    os.environ.update(before)
    get_settings.cache_clear()
    # Streamlit's AppTest leaves the page it ran as __main__; a process spawned later (the API's
    # worker processes) would run that page again on start and die.
    sys.modules["__main__"] = main


def _ray_process(config) -> bool:
    return (config.getoption("markexpr") or "").strip() == "ray"


def pytest_collection_modifyitems(config, items):
    """Tests marked `ray` run in a pytest process of their own (`pytest -m ray`, `make test-ray`):
    a Ray instance lives as long as the process that started it."""
    if _ray_process(config):
        return
    apart = pytest.mark.skip(reason="starts Ray: run with `make test-ray` (`pytest -m ray`, a process of its own)")
    for item in items:
        if item.get_closest_marker("ray") is not None:
            item.add_marker(apart)


@pytest.fixture(scope="session", autouse=True)
def _no_ray_outside_its_process(request):
    """Outside the `-m ray` process the fan-out runs its calls here, one after the other, whatever
    `train.workers` says (module fixtures included: they are set up before any function fixture)."""
    if _ray_process(request.config):
        yield
        return
    from sensex.models import cluster

    patch = pytest.MonkeyPatch()
    patch.setattr(cluster, "parallel", lambda cpus, tasks: False)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def universe():
    return load_universe("sensex")


@pytest.fixture(scope="session")
def market(universe) -> pd.DataFrame:
    return synthetic.generate(universe, FIXTURE_START, FIXTURE_END)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    return load_settings()


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, universe):
    """A SENSEX_HOME with synthetic data, one tiny trained model, promoted to production."""
    from sensex.data.ingest import update_store
    from sensex.jobs import commands
    from sensex.serving import ModelRegistry

    root = tmp_path_factory.mktemp("trained")
    settings = load_settings({"SENSEX_HOME": str(root / "home")})
    update_store(settings, universe, "synthetic", start=FIXTURE_START, end=FIXTURE_END,
                 yahoo_reachable=lambda: False)
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    trained = commands.train(settings, str(config))
    promoted = ModelRegistry(settings, promotion=TINY_GATE).setup_automated_promotion()
    return {"settings": settings, "train": trained, "promoted": promoted}


@pytest.fixture
def own_home(trained_home, tmp_path):
    """A copy of the trained home for a test that changes it (registers, promotes, damages)."""
    home = tmp_path / "home"
    shutil.copytree(trained_home["settings"].home, home)
    return load_settings({"SENSEX_HOME": str(home)})


@contextmanager
def read_only(path: Path):
    """Make `path` really unwritable. chmod does not stop root (tests here run as root), the
    immutable attribute does; as another user, chmod is enough. Skips where neither works."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a directory read-only")
        # Symlinks cannot carry the attribute (chattr says so and goes on): their targets do.
        subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True)
        undo = ["chattr", "-R", "-i", str(path)]
    else:
        subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
        undo = ["chmod", "-R", "u+w", str(path)]
    try:
        if os.access(path, os.W_OK):
            pytest.skip(f"{path} stays writable on this file system")
        yield path
    finally:
        subprocess.run(undo, capture_output=True)
