"""The live record leaves no calls out of the hit rate (abstentions) and keeps them in the Brier score."""

from types import SimpleNamespace

import pytest

from sensex.core import jsonlog
from sensex.data import store
from sensex.monitoring.live_record import MIN_SESSIONS, live

ALWAYS_HALF = SimpleNamespace(meta=SimpleNamespace(baselines={"always_up": {"up_share": 0.5}}))


def test_no_calls_are_abstentions_not_misses(home, universe, market):
    store.write(home.store_dir, market, "synthetic")
    closes = market[market["symbol"] == universe.index_symbol].set_index("date")["close"].sort_index()
    days = [str(day.date()) for day in closes.index[-(MIN_SESSIONS + 11):]]
    log = home.logs_dir / jsonlog.PREDICTION_LOG
    for i, (as_of, target) in enumerate(zip(days[:-1], days[1:], strict=True)):
        up = bool(closes[target] > closes[as_of])
        abstains = i % 3 == 0  # these lean the wrong way: a miss, were a no call scored as a direction
        direction = ("DOWN" if up else "UP") if abstains else ("UP" if up else "DOWN")
        prediction = {"probability": 0.55 if direction == "UP" else 0.45, "direction": direction, "no_call": abstains}
        jsonlog.append(log, {"prediction": prediction, "model_version": "1", "mode": "close", "as_of": as_of,
                             "target_date": target, "back_dated": False, "universe": universe.key})
    record = live(home, ALWAYS_HALF, universe.index_symbol, "close", closes)
    abstentions = len(range(0, len(days) - 1, 3))
    assert record["judged"] is True and record["n"] == len(days) - 1
    assert record["abstentions"] == abstentions and record["calls"] == record["n"] - abstentions
    assert record["hit_rate"] == pytest.approx(1.0)  # every call was right; the no calls do not count
    # ... but every P(UP) is in the Brier score: 0.45 from the outcome on a call, 0.55 on a no call.
    assert record["brier"] == pytest.approx((record["calls"] * 0.45**2 + abstentions * 0.55**2) / record["n"], abs=1e-4)
    assert f"on {record['calls']} calls ({abstentions} no calls left out)" in record["reason"]
