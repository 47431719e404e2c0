"""The dashboard's universe selector through Streamlit's AppTest: one SENSEX_HOME with the
SENSEX's data and model and NIFTY 50's data without a model. Switching redraws every page for the
chosen universe, naming it; a universe without a model or without data shows the usual clear
states, never an exception; the started universe is the default."""

import shutil
from datetime import datetime

import pytest
from app_pages import APP, fresh_app_caches, texts  # noqa: F401 - fresh_app_caches is autouse
from conftest import FIXTURE_END, FIXTURE_START
from streamlit.testing.v1 import AppTest

from sensex.core import jsonlog
from sensex.core.settings import get_settings, load_settings
from sensex.data.ingest import update_store
from sensex.data.universes import universe_choices
from sensex.interfaces.app import backend, warmup
from sensex.market import calendar
from sensex.market.universe import load_universe

pytestmark = pytest.mark.integration
# The fixture's data ends on Fri 2021-12-31: on Mon 2022-01-03 before the close it is up to date.
BEFORE_THE_NEXT_CLOSE = datetime(2022, 1, 3, 10, 0, tzinfo=calendar.IST)
PAGES = ["views/forecast.py", "views/market.py", "views/track_record.py", "views/explanations.py",
         "views/members.py", "views/monitoring.py"]


@pytest.fixture(scope="module")
def two_universe_home(trained_home, tmp_path_factory):
    """The trained SENSEX home, copied, with NIFTY 50's synthetic data added and no NIFTY 50 model."""
    home = tmp_path_factory.mktemp("selector") / "home"
    shutil.copytree(trained_home["settings"].home, home)
    settings = load_settings({"SENSEX_HOME": str(home)})
    update_store(settings.model_copy(update={"universe": "nifty50"}), load_universe("nifty50"), "synthetic",
                 start=FIXTURE_START, end=FIXTURE_END, yahoo_reachable=lambda: False)
    return settings


@pytest.fixture
def use_home(monkeypatch):
    monkeypatch.setattr(calendar, "now_ist", lambda: BEFORE_THE_NEXT_CLOSE)  # forecasts, not stale cards

    def use(settings, universe: str | None = None):
        monkeypatch.setenv("SENSEX_HOME", str(settings.home))
        if universe is not None:
            monkeypatch.setenv("SENSEX_UNIVERSE", universe)
        get_settings.cache_clear()
        return get_settings()
    yield use
    get_settings.cache_clear()


def checked(at: AppTest, where: str) -> AppTest:
    assert not at.exception, (where, [e.value for e in at.exception])
    return at


def start() -> AppTest:
    return checked(AppTest.from_file(APP, default_timeout=120).run(), "start")


def choose(at: AppTest, spec: str) -> AppTest:
    at.sidebar.selectbox[0].select(spec).run()
    return checked(at, f"choosing {spec}")


def test_the_choices_are_the_started_universe_then_the_shipped_ones_with_their_data(two_universe_home, trained_home, tmp_path):
    choices = universe_choices(two_universe_home)
    assert [c["spec"] for c in choices] == ["sensex", "nifty50"]
    sensex, nifty = choices
    assert sensex["started"] and sensex["has_data"] and sensex["last_date"] == "2021-12-31"
    assert not nifty["started"] and nifty["has_data"] and nifty["members"] == nifty["stored_members"] == 50
    only_sensex = universe_choices(trained_home["settings"])
    assert [(c["name"], c["has_data"]) for c in only_sensex] == [("SENSEX", True), ("NIFTY50", False)]
    mine = tmp_path / "mine.csv"
    mine.write_text("# index_symbol: MINE\nsymbol,yahoo_bo,yahoo_ns,name,sector,weight\n"
                    "RELIANCE,RELIANCE.BO,RELIANCE.NS,Reliance,Energy,5\n")
    custom = universe_choices(trained_home["settings"].model_copy(update={"universe": str(mine)}))
    assert [c["name"] for c in custom] == ["MINE", "SENSEX", "NIFTY50"]  # the started file first
    assert custom[0]["started"] and not custom[0]["has_data"] and custom[0]["stored_members"] == 1


def test_switching_to_a_universe_without_a_model_redraws_every_page_for_it(two_universe_home, use_home):
    use_home(two_universe_home)
    at = start()
    selector = at.sidebar.selectbox[0]
    assert selector.label == "Universe" and selector.value == "sensex"  # the started universe
    assert selector.options == ["SENSEX (data to 2021-12-31)", "NIFTY50 (data to 2021-12-31)"]
    assert "SENSEX: next-session forecast" in texts(at.header)
    assert any(m.label == "P(UP)" for m in at.metric)  # the SENSEX model forecasts

    choose(at, "nifty50")
    assert "**NIFTY50**: index NIFTY50 on XNSE, 50 members (50 stored)" in texts(at.sidebar.caption)
    assert "NIFTY50: next-session forecast" in texts(at.header)
    warning = texts(at.warning)
    assert "No production model yet: run `sensex train --universe nifty50` then `sensex registry setup --universe nifty50`" in warning
    assert not any(m.label == "P(UP)" for m in at.metric)  # no forecast: not the SENSEX's shown as NIFTY's

    for page in PAGES:
        at.switch_page(page).run()
        checked(at, page)
        assert at.sidebar.selectbox[0].value == "nifty50", page  # the choice holds across pages
        assert "**NIFTY50**" in texts(at.sidebar.caption), page
    at.switch_page("views/market.py").run()
    checked(at, "market")
    assert "Market: NIFTY50" in texts(at.header) and "NIFTY50, last 252 sessions" in texts(at.subheader)
    assert "NIFTY50 on " in " ".join(m.label for m in at.metric)
    at.switch_page("views/track_record.py").run()
    checked(at, "track record")
    assert "sensex train --universe nifty50" in texts(at.warning)  # no model card: what to run
    at.switch_page("views/monitoring.py").run()
    checked(at, "monitoring")

    choose(at, "sensex")  # and back: the SENSEX's model again
    at.switch_page("views/forecast.py").run()
    checked(at, "forecast again")
    assert "SENSEX: next-session forecast" in texts(at.header)
    assert any(m.label == "P(UP)" for m in at.metric)


def test_a_universe_without_data_says_what_to_run(trained_home, use_home):
    use_home(trained_home["settings"])
    at = start()
    assert at.sidebar.selectbox[0].options == ["SENSEX (data to 2021-12-31)", "NIFTY50 (no data)"]
    choose(at, "nifty50")
    assert ("No NIFTY50 data stored yet: the store has no NIFTY50 index rows. Run `sensex data update --universe nifty50`"
            in texts(at.error))
    assert at.sidebar.selectbox[0].value == "nifty50"  # the selector stays, to switch back
    choose(at, "sensex")
    assert not at.error and "SENSEX: next-session forecast" in texts(at.header)


def test_the_started_universe_is_the_default(two_universe_home, use_home):
    use_home(two_universe_home, universe="nifty50")  # as `sensex app --universe nifty50` sets it
    at = start()
    assert at.sidebar.selectbox[0].value == "nifty50"
    assert at.sidebar.selectbox[0].options[0] == "NIFTY50 (data to 2021-12-31)"
    assert "NIFTY50: next-session forecast" in texts(at.header)


def test_each_universe_track_record_reads_only_its_own_forecasts(two_universe_home, use_home):
    settings = use_home(two_universe_home)
    sensex = backend.LocalBackend(settings)
    log = settings.logs_dir / jsonlog.PREDICTION_LOG
    saved = log.read_bytes() if log.exists() else None
    try:
        forecast = sensex.predict()  # logged, labelled with its universe
        assert jsonlog.read(log)[-1]["universe"] == "sensex"
        jsonlog.append(log, {"prediction": {"direction": "UP", "probability": 0.9}, "model_version": "1",
                             "mode": "close", "as_of": "2021-12-30", "target_date": "2021-12-31", "universe": "nifty50"})
        nifty = backend.LocalBackend(settings.model_copy(update={"universe": "nifty50"}))
        mine = [r for r in sensex.predictions(500) if r.get("universe") == "nifty50"]
        assert mine == []  # the NIFTY 50 record is not scored on the SENSEX's closes
        assert [r["universe"] for r in nifty.predictions(500)] == ["nifty50"]
        assert forecast["as_of"] in {r["as_of"] for r in sensex.predictions(500)}
    finally:
        if saved is None:
            log.unlink(missing_ok=True)
        else:
            log.write_bytes(saved)


def test_the_warmed_backend_serves_the_started_universe_only(trained_home, use_home):
    import socket

    settings = use_home(trained_home["settings"])
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        warmup.start("127.0.0.1", server.getsockname()[1])
        nifty = warmup.backend_for(settings.model_copy(update={"universe": "nifty50"}))
    assert nifty.server.universe.key == "nifty50" and nifty.server.bundle is None
    assert warmup.take() is None  # taken and left: it was made for the SENSEX
    import gc

    gc.unfreeze()
