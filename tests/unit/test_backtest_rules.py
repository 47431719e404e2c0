"""Rules: names, weights from forecasts, and one sentence for anything else."""

from __future__ import annotations

import numpy as np
import pytest

from sensex.backtest.rules import parse_rule
from sensex.core.errors import ConfigError

P = np.array([0.30, 0.49, 0.50, 0.54, 0.56, 0.80])
NO_CALL = np.array([False, True, False, True, False, False])


def test_long_flat_long_short_and_threshold():
    np.testing.assert_array_equal(parse_rule("long_flat").weights(P), [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(parse_rule("long_short").weights(P), [-1, -1, 1, 1, 1, 1])
    np.testing.assert_array_equal(parse_rule("threshold:0.55").weights(P), [0, 0, 0, 0, 1, 1])
    assert parse_rule(None).name == "long_flat" and parse_rule(" Long_Short ").name == "long_short"


def test_no_call_sessions_are_skipped():
    np.testing.assert_array_equal(parse_rule("skip_no_call").weights(P, NO_CALL), [0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(parse_rule("long_short+skip_no_call").weights(P, NO_CALL), [-1, 0, 1, 0, 1, 1])
    assert parse_rule("skip_no_call").name == "long_flat+skip_no_call"


def test_volatility_targeting_sizes_by_the_expected_move_and_refuses_without_one():
    # expected absolute moves; sigma = E|r| x sqrt(pi / 2) = E|r| x 1.2533
    move = np.array([0.01, 0.01, 0.005, 0.02, 0.0075393, 0.001])
    w = parse_rule("vol_target:0.15").weights(P, NO_CALL, move)
    daily = 0.15 / np.sqrt(252)  # 0.0094491 a day
    np.testing.assert_allclose(w, [0, 0, 1.0, daily / (0.02 * 1.2533141), 1.0, 1.0], rtol=1e-5)  # capped at 1x
    assert w[3] == pytest.approx(0.37697, rel=1e-4)
    for missing in (None, np.full(6, np.nan)):
        with pytest.raises(ConfigError, match="expected move.*none is available"):
            parse_rule("vol_target").weights(P, NO_CALL, missing)
    with pytest.raises(ConfigError, match="2 sessions lack one"):
        parse_rule("vol_target").weights(P, NO_CALL, np.array([0.01, np.nan, 0.01, 0.0, 0.01, 0.01]))


@pytest.mark.parametrize("name, message", [
    ("martingale", "Unknown rule 'martingale'"),
    ("threshold", "needs its threshold"),
    ("threshold:0.4", "between 0.5 and 1"),
    ("threshold:abc", "not a number"),
    ("long_flat:2", "takes no argument"),
    ("long_flat+pyramid", "'pyramid' is not a modifier"),
    ("vol_target:5", "between 0 and 1"),
])
def test_bad_names_are_one_sentence(name, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_rule(name)
    assert "\n" not in str(caught.value) and str(caught.value).endswith(".")
