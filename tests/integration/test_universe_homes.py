"""One SENSEX_HOME, two universes: a NIFTY 50 model trains, registers and serves beside the
SENSEX's without touching it; a universe the store does not hold is a clear error."""

from __future__ import annotations

import pytest
from conftest import FIXTURE_END, FIXTURE_START, TINY_CONFIG, TINY_GATE
from fastapi.testclient import TestClient

from sensex.core.errors import DataError
from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.ingest import update_store
from sensex.interfaces import cli
from sensex.interfaces.api import create_app
from sensex.jobs import commands
from sensex.market.universe import load_universe
from sensex.serving import ModelRegistry
from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_universes(tmp_path_factory):
    """A home with the SENSEX's tiny model in production, then NIFTY 50 data and model added."""
    root = tmp_path_factory.mktemp("universes")
    sensex = load_settings({"SENSEX_HOME": str(root / "home")})
    nifty = sensex.model_copy(update={"universe": "nifty50"})
    config = root / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    update_store(sensex, load_universe("sensex"), "synthetic", start=FIXTURE_START, end=FIXTURE_END,
                 yahoo_reachable=lambda: False)
    commands.train(sensex, str(config))
    ModelRegistry(sensex, promotion=TINY_GATE).setup_automated_promotion()
    before = {"forecast": ModelServer(sensex).predict(), "rows": store.read(sensex.store_dir)}
    added = update_store(nifty, load_universe("nifty50"), "synthetic", start=FIXTURE_START, end=FIXTURE_END,
                         yahoo_reachable=lambda: False)
    trained = commands.train(nifty, str(config))
    promoted = ModelRegistry(nifty, promotion=TINY_GATE).setup_automated_promotion()
    return {"sensex": sensex, "nifty": nifty, "before": before, "added": added, "trained": trained,
            "promoted": promoted, "config": config}


def test_shared_members_are_stored_once_and_each_report_covers_its_own(two_universes):
    rows = store.read(two_universes["sensex"].store_dir)
    assert not rows.duplicated(["date", "symbol"]).any()
    assert {"SENSEX", "NIFTY50", "RELIANCE", "TRENT"} <= set(rows["symbol"])
    added = two_universes["added"]
    assert added["rows_revised"] == 0  # the shared members' rows were already there, identical
    assert added["quality"]["statistics"]["total_symbols"] == 50 and added["quality"]["readiness"] is True
    sensex_report = commands.data_status(two_universes["sensex"])
    assert sensex_report["statistics"]["total_symbols"] == 30 and "TRENT" not in sensex_report["symbols"]
    assert sensex_report["universe"] == "sensex" and "NIFTY50" in sensex_report["unknown_symbols"]


def test_nifty_trains_registers_and_serves_its_own_model(two_universes):
    assert two_universes["trained"]["universe"] == "nifty50"
    nifty_registry = ModelRegistry(two_universes["nifty"])
    assert nifty_registry.model_name == "nifty50-convlstm-model"
    assert two_universes["promoted"]["version"] == "1"
    with TestClient(create_app(two_universes["nifty"])) as client:
        body = client.post("/predict").json()
    assert body["universe"] == "nifty50" and body["direction"] in ("UP", "DOWN") and body["synthetic"] is True
    assert body["target_date"] == "2022-01-03" and body["model_version"] == "1"


def test_the_sensex_model_is_untouched(two_universes):
    sensex = two_universes["sensex"]
    registry = ModelRegistry(sensex)
    assert registry.model_name == "sensex-convlstm-model"
    assert [v["version"] for v in registry.list_all_versions()] == ["1"]  # the NIFTY run was not registered here
    after = ModelServer(sensex).predict()
    before = two_universes["before"]["forecast"]
    assert after["universe"] == "sensex" and after["probability"] == before["probability"]
    assert after["model_version"] == before["model_version"]
    old = two_universes["before"]["rows"]
    now = store.read(sensex.store_dir)
    now = now[now["symbol"].isin(old["symbol"].unique())].reset_index(drop=True)
    assert store.content_hash(now) == store.content_hash(old)


def test_cli_takes_the_universe(two_universes, capsys, monkeypatch):
    import json

    monkeypatch.setenv("SENSEX_HOME", str(two_universes["sensex"].home))
    from sensex.core.settings import get_settings

    get_settings.cache_clear()
    assert cli.run(["predict", "--universe", "nifty50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["universe"] == "nifty50"
    assert cli.run(["registry", "production", "--universe", "nifty50", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "1"
    assert cli.run(["data", "status", "--universe", "nifty50", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["statistics"]["total_symbols"] == 50
    monkeypatch.setenv("SENSEX_UNIVERSE", "nifty50")
    get_settings.cache_clear()
    assert cli.run(["predict", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["universe"] == "nifty50"
    assert cli.run(["predict", "--universe", "dowjones"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown universe 'dowjones'") and err.count("\n") == 1


def test_a_universe_missing_from_the_store_is_a_clear_error(home, tiny_config, tmp_path):
    update_store(home, load_universe("sensex"), "synthetic", start="2021-01-01", end=FIXTURE_END,
                 yahoo_reachable=lambda: False)
    with pytest.raises(DataError, match=r"no NIFTY50 index rows .* run `sensex data update --universe nifty50`"):
        commands.train(home.model_copy(update={"universe": "nifty50"}), str(tiny_config))
    mine = tmp_path / "mine.csv"
    members = "\n".join(f"M{i},M{i}.BO,M{i}.NS,M {i},Energy,1" for i in range(6))
    mine.write_text("symbol,yahoo_bo,yahoo_ns,name,sector,weight\nRELIANCE,RELIANCE.BO,RELIANCE.NS,Reliance,Energy,5\n"
                    + members + "\n")
    with pytest.raises(DataError, match=r"lacks 6 universe members of MINE's 7 \(M0, M1"):
        commands.train(home.model_copy(update={"universe": str(mine)}), str(tiny_config))
