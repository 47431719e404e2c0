import numpy as np
import pytest

from sensex.serving.model_server import ModelServer

pytestmark = pytest.mark.integration


def test_occlusion_explains_the_forecast(trained_home):
    server = ModelServer(trained_home["settings"])
    explanation = server.explain()
    forecast = server.predict(log_prediction=False)
    assert explanation["probability"] == pytest.approx(forecast["probability"], abs=1e-4)
    groups = {row["group"] for row in explanation["families"]}
    assert {"returns", "oscillator", "volume", "market context"} <= groups
    assert len(explanation["members"]) == 30
    deltas = np.array([row["delta"] for row in explanation["families"]])
    assert np.isfinite(deltas).all() and np.abs(deltas).max() > 0  # removing inputs moves the forecast
    assert list(np.abs(deltas)) == sorted(np.abs(deltas), reverse=True)


def test_shapley_values_of_the_families_come_beside_occlusion_and_add_up(trained_home):
    server = ModelServer(trained_home["settings"])
    explanation = server.explain()
    values = explanation["shapley"]
    assert values["probability"] == pytest.approx(explanation["probability"], abs=1e-4)
    assert {row["group"] for row in values["families"]} == {row["group"] for row in explanation["families"]}
    total = sum(row["shap"] for row in values["families"])
    assert total == pytest.approx(values["probability"] - values["base"], abs=1e-4)
    assert "Shapley" in values["method"]


def test_explanations_and_drift_are_computed_once_per_model_and_data(own_home, monkeypatch):
    """Heavy views are cached per model and store content: a crowd asking costs one computation."""
    from sensex.monitoring import drift as drift_module
    from sensex.serving import explain as explain_module

    calls = {"occlusion": 0, "drift": 0}
    real_occlusion, real_parts = explain_module.occlusion, drift_module.model_and_data_parts

    def counted_occlusion(*args, **kwargs):
        calls["occlusion"] += 1
        return real_occlusion(*args, **kwargs)

    def counted_parts(*args, **kwargs):
        calls["drift"] += 1
        return real_parts(*args, **kwargs)

    monkeypatch.setattr(explain_module, "occlusion", counted_occlusion)
    monkeypatch.setattr(drift_module, "model_and_data_parts", counted_parts)
    server = ModelServer(own_home)
    server.cache.clear()
    assert server.explain() == server.explain() and server.drift() == server.drift()
    assert calls == {"occlusion": 1, "drift": 1}
    # A logged forecast changes the live record, not the model or the data: the live part is read
    # again, performance and feature drift are not recomputed.
    from sensex.data import store

    dates = store.read(own_home.store_dir, symbols=[server.universe.index_symbol])["date"]
    before = server.drift()["live"]["back_dated"]["n"]
    server.predict(as_of=str(dates.iloc[-2])[:10])  # a look-back whose target session is stored
    after = server.drift()
    assert after["live"]["back_dated"]["n"] == before + 1
    assert calls["drift"] == 1
