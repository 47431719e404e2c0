"""One home's prediction log holds every universe's forecasts: each reader takes its own, and the
records written before universes existed are the SENSEX's."""

from sensex.core import jsonlog


def test_read_universe_keeps_one_universe_and_its_last_records(tmp_path):
    log = tmp_path / jsonlog.PREDICTION_LOG
    jsonlog.append(log, {"n": 0})  # written before universes: SENSEX's
    for n in range(1, 7):
        jsonlog.append(log, {"n": n, "universe": "nifty50" if n % 2 else "sensex"})
    assert [r["n"] for r in jsonlog.read_universe(log, "sensex")] == [0, 2, 4, 6]
    assert [r["n"] for r in jsonlog.read_universe(log, "nifty50")] == [1, 3, 5]
    # The tail holds both universes: the whole file is read, so `limit` records of one still come back.
    assert [r["n"] for r in jsonlog.read_universe(log, "sensex", limit=3)] == [2, 4, 6]
    assert [r["n"] for r in jsonlog.read_universe(log, "nifty50", limit=2)] == [3, 5]
    assert jsonlog.read_universe(log, "mine") == []
    assert jsonlog.read_universe(tmp_path / "absent.json", "sensex", limit=5) == []
