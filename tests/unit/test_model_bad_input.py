"""Bad input stops before training starts, with one sentence that says what is needed."""

import numpy as np
import pytest

from sensex.core.errors import DataError
from sensex.data.sources import synthetic
from sensex.features.dataset import prepare
from sensex.models import train
from sensex.models.config import config_from_dict

CONFIG = config_from_dict({
    "model": {"hidden": 4, "projection": 4},
    "train": {"epochs": 1, "max_train_windows": 200, "valid_sessions": 60, "test_sessions": 60},
}, "tiny")


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started on bad input")

    monkeypatch.setattr(train, "fit_network", refuse)


def test_too_little_history_says_how_much_is_needed(universe, tmp_path, no_training):
    short = synthetic.generate(universe, "2021-01-01", "2021-12-31")
    with pytest.raises(DataError, match=r"Too little history: training needs about (\d+) sessions") as error:
        train.train_model(prepare(short, universe), CONFIG, tmp_path / "bundle")
    needed = int(error.value.args[0].split("needs about ")[1].split()[0])
    sessions = short["date"].nunique()
    assert needed > sessions
    assert f"has {sessions} index sessions" in str(error.value)


def test_nan_only_features_fail_before_training(market, universe, tmp_path, no_training):
    broken = market.copy()
    members = broken["symbol"] != universe.index_symbol
    broken.loc[members, "volume"] = np.nan  # every volume indicator undefined, so no member is usable
    with pytest.raises(DataError, match=r"undefined \(NaN\)"):
        train.train_model(prepare(broken, universe), CONFIG, tmp_path / "bundle")


def test_members_without_usable_history_in_the_training_window(market, universe, tmp_path, no_training):
    late = market[(market["symbol"] == universe.index_symbol) | (market["date"] >= "2021-06-01")]
    with pytest.raises(DataError, match="training window"):
        train.train_model(prepare(late, universe), CONFIG, tmp_path / "bundle")


def test_members_missing_from_the_store_are_refused_before_training(home, market, tiny_config):
    from sensex.core.errors import DataError
    from sensex.data import store
    from sensex.jobs import commands

    dropped = ["TCS", "INFY", "ITC", "LT", "SBIN", "NTPC"]
    store.write(home.store_dir, market[~market["symbol"].isin(dropped)], "synthetic")
    with pytest.raises(DataError, match="lacks 6 universe members"):
        commands.train(home, str(tiny_config))
