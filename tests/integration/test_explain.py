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
