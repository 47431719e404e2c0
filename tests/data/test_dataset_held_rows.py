"""`load_panel` keeps the repaired store per content: the same panels as preparing afresh, and a
store that changed is read again."""

from __future__ import annotations

import numpy as np

from sensex.data import store
from sensex.data.ingest import update_store
from sensex.features.dataset import load_panel, prepare


def test_held_rows_give_the_panel_of_a_fresh_preparation_and_follow_the_store(home, universe):
    update_store(home, universe, "synthetic", start="2019-01-01", end="2021-03-31", yahoo_reachable=lambda: False)
    for end in ("2020-06-30", "2021-03-31"):
        held = load_panel(home, universe, end=end, sessions=300)
        rows = store.read(home.store_dir, end=end)
        fresh = prepare(rows[rows["date"] >= held.dates[0]], universe)
        assert (held.dates == fresh.dates).all()
        np.testing.assert_array_equal(held.stock, fresh.stock)
        np.testing.assert_array_equal(held.available, fresh.available)
    before = load_panel(home, universe).dates[-1]
    update_store(home, universe, "synthetic", start="2019-01-01", end="2021-06-30", yahoo_reachable=lambda: False)
    after = load_panel(home, universe).dates[-1]
    assert str(before.date()) == "2021-03-31" and str(after.date()) == "2021-06-30"
