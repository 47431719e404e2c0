"""Whether a model learnt from the kind of prices the store holds: one sentence for /health, the
forecast, the model card and `sensex data update`, naming each model's own retrain commands."""

from types import SimpleNamespace

import pytest

from sensex.data import store
from sensex.market.universe import load_universe
from sensex.serving import data_match


def _bundle(synthetic: bool | None) -> SimpleNamespace:
    return SimpleNamespace(meta=SimpleNamespace(data={} if synthetic is None else {"synthetic": synthetic}))


@pytest.mark.parametrize("trained, stored, matches", [
    (True, {"synthetic": True}, True), (False, {"synthetic": False}, True),
    (True, {"synthetic": False}, False), (False, {"synthetic": True}, False),
    (None, {"synthetic": True}, None),  # a bundle that never recorded its data
    (True, {}, None),  # no store
])
def test_a_model_matches_the_store_only_when_both_kinds_are_known(trained, stored, matches):
    assert data_match.matches(_bundle(trained).meta.data, stored) is matches
    assert (data_match.trained_on_other_data(_bundle(trained), stored) is None) is (matches is not False)


def test_the_sentence_names_the_models_own_mode_and_universe():
    flag = data_match.retrain_flag("preopen", load_universe("nifty50"))
    assert flag == " --mode preopen --universe nifty50"
    assert data_match.trained_on_other_data(_bundle(False), {"synthetic": True}, flag) == (
        "The production model was trained on real prices but the store now holds SYNTHETIC ones: retrain with"
        " `sensex train --mode preopen --universe nifty50` then `sensex registry setup --mode preopen --universe nifty50`.")


def test_the_update_names_every_production_model_that_learnt_from_other_prices(home, monkeypatch):
    monkeypatch.setattr(store, "read_meta", lambda directory: {"synthetic": True, "source": "synthetic"})
    trained = {"close": {"synthetic": False}, "preopen": {"synthetic": False}}
    monkeypatch.setattr(data_match, "_production_data", lambda settings, mode, universe: trained[mode])
    sensex = load_universe("sensex")
    assert data_match.production_warning(home, sensex) == (
        "Warning: the production close and preopen models were trained on real prices but the store now holds"
        " SYNTHETIC ones: retrain with `sensex train` then `sensex registry setup`, and `sensex train --mode preopen`"
        " then `sensex registry setup --mode preopen`.")
    trained["preopen"] = {"synthetic": True}  # learnt from the synthetic market: nothing to say about it
    assert data_match.production_warning(home, sensex).startswith("Warning: the production close model was trained")
    trained["close"] = None  # no production model
    assert data_match.production_warning(home, sensex) is None
