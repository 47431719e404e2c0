"""The baselines saved as JSON and applied with numpy give scikit-learn's probabilities exactly."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sensex.features.build import build_panel
from sensex.models.baselines import _fit_gbm, fit_baselines, predict_baselines
from sensex.models.calibrate import sigmoid
from sensex.models.designs import index_design, latest_session_design
from sensex.models.portable import gbm_logit, gbm_to_dict, logreg_logit, logreg_to_dict


@pytest.fixture(scope="module")
def panel(market, universe):
    return build_panel(market, universe)


@pytest.fixture(scope="module")
def rows(panel):
    labelled = np.flatnonzero(np.isfinite(panel.label))
    return labelled[300:700], labelled[700:]


def test_gbm_trees_in_numpy_match_scikit_learn_with_missing_values(panel, rows):
    train, evaluation = rows
    design = latest_session_design(panel)
    model = _fit_gbm(design[train], panel.label[train])
    params = json.loads(json.dumps(gbm_to_dict(model)))  # through JSON, as the bundle stores it
    x = design[np.concatenate([evaluation, np.arange(0, 300)])]  # early rows: indicators still NaN
    assert np.isnan(x).any()
    expected = model.predict_proba(x)[:, 1]
    np.testing.assert_allclose(sigmoid(gbm_logit(params, x)), expected, rtol=0, atol=1e-12)


def test_logreg_in_numpy_matches_scikit_learn(panel, rows):
    train, evaluation = rows
    design = index_design(panel)
    fit_rows = train[np.isfinite(design[train]).all(axis=1)]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(design[fit_rows], panel.label[fit_rows].astype(int))
    params = json.loads(json.dumps(logreg_to_dict(model)))
    x = np.nan_to_num(design[evaluation])
    np.testing.assert_allclose(sigmoid(logreg_logit(params, x)), model.predict_proba(x)[:, 1], rtol=0, atol=1e-12)


def test_fitted_baselines_survive_json_and_predict_the_same(panel, rows):
    train, evaluation = rows
    portable = fit_baselines(panel, train)
    again = json.loads(json.dumps(portable))
    before, after = predict_baselines(portable, panel, evaluation), predict_baselines(again, panel, evaluation)
    for name in before:
        np.testing.assert_array_equal(before[name][0], after[name][0])
    assert portable["fit_end"] == str(panel.dates[train[-1]].date())
