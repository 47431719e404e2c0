"""The move after the open: label and the metrics of any mode's probabilities against it."""

import numpy as np
import pytest

from sensex.features.labels import after_open_label
from sensex.models.evaluate import classification_metrics, metrics_after_open


def test_after_open_label_is_next_close_above_next_open():
    index_open = np.array([100.0, 103.0, 101.0, np.nan, 99.0])
    index_close = np.array([102.0, 102.0, 104.0, 100.0, 99.5])
    # Row t looks at session t + 1: 102 < 103 -> 0; 104 > 101 -> 1; open unknown -> NaN; 99.5 > 99 -> 1.
    np.testing.assert_array_equal(after_open_label(index_open, index_close), [0.0, 1.0, np.nan, 1.0, np.nan])


def test_metrics_after_open_scores_the_same_probabilities_on_the_known_rows():
    after_open = np.array([1.0, 0.0, 1.0, np.nan, 0.0, 1.0])
    rows = np.array([1, 2, 3, 4, 5])
    p = np.array([0.4, 0.7, 0.9, 0.3, 0.6])
    out = metrics_after_open(after_open, rows, p)
    expected = classification_metrics(np.array([0, 1, 0, 1]), np.array([0.4, 0.7, 0.3, 0.6]))
    assert out["n"] == 4
    for key in ("accuracy", "auc", "brier"):
        assert out[key] == pytest.approx(expected[key])
    assert "intervals" in out
