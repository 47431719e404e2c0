import json
import os

import pandas as pd
import pytest

from sensex.core.errors import DataSourceError, NoStoreError
from sensex.data import store
from sensex.data.ingest import update_store


def test_round_trip_keeps_every_row(home, market):
    meta = store.write(home.store_dir, market, "synthetic")
    back = store.read(home.store_dir)
    pd.testing.assert_frame_equal(back, market)
    assert meta["content_hash"] == store.content_hash(back)
    assert store.read_meta(home.store_dir)["symbols"]["SENSEX"]["last"] == "2021-12-31"
    assert not [p for p in home.store_dir.iterdir() if p.name.endswith(".tmp")]


def test_read_filters_by_symbol_and_date(home, market):
    store.write(home.store_dir, market, "synthetic")
    part = store.read(home.store_dir, symbols=["TCS"], start="2021-01-01", end="2021-01-31")
    assert set(part["symbol"]) == {"TCS"}
    assert part["date"].between("2021-01-01", "2021-01-31").all()


def test_reading_an_empty_store_says_what_to_do(home):
    with pytest.raises(NoStoreError, match="sensex data update"):
        store.read(home.store_dir)


def test_merge_counts_added_and_revised_rows(market):
    old = market[market["date"] <= "2021-06-30"]
    new = market[market["date"] >= "2021-06-01"].copy()
    new.loc[new["date"] == pd.Timestamp("2021-06-01"), "close"] *= 1.01
    merged, added, revised = store.merge(old, new)
    assert len(merged) == len(market)
    assert added == int((market["date"] > "2021-06-30").sum())
    assert revised == 31  # the one revised session, for every symbol


def test_update_is_incremental_and_a_second_run_adds_nothing(home, universe):
    first = update_store(
        home,
        universe,
        "synthetic",
        start="2021-01-01",
        end="2021-06-30",
        yahoo_reachable=lambda: False,
    )
    assert first["rows_added"] > 0 and first["synthetic"] is True
    mtime = os.stat(home.store_dir / store.DATA_FILE).st_mtime_ns
    again = update_store(
        home, universe, "synthetic", end="2021-06-30", yahoo_reachable=lambda: False
    )
    assert again["rows_added"] == 0 and again["rows_revised"] == 0
    assert os.stat(home.store_dir / store.DATA_FILE).st_mtime_ns == mtime  # nothing rewritten
    later = update_store(
        home, universe, "synthetic", end="2021-07-31", yahoo_reachable=lambda: False
    )
    # 30 members and the index on 21 BSE sessions, the S&P 500 on July's 21 NYSE sessions.
    assert later["rows_added"] == 31 * 21 + 21 and later["last_date"] == "2021-07-30"


def test_auto_offline_keeps_a_real_store_as_it_is(home, universe, market):
    store.write(home.store_dir, market, "csv")
    before = store.read_meta(home.store_dir)["content_hash"]
    result = update_store(home, universe, "auto", yahoo_reachable=lambda: False)
    assert result["source"] == "csv" and "Offline" in result["message"]
    assert store.read_meta(home.store_dir)["content_hash"] == before


def test_network_failure_never_empties_the_store(home, universe, market, monkeypatch):
    from sensex.data.sources import yahoo

    store.write(home.store_dir, market, "yfinance")
    before = store.read_meta(home.store_dir)["content_hash"]

    def down(*args, **kwargs):
        raise DataSourceError("Yahoo Finance returned no data for any symbol: check the network.")

    monkeypatch.setattr(yahoo, "fetch", down)
    with pytest.raises(DataSourceError):
        update_store(home, universe, "yfinance", yahoo_reachable=lambda: True)
    assert store.read_meta(home.store_dir)["content_hash"] == before
    assert len(store.read(home.store_dir)) == len(market)


def test_unknown_source_is_refused(home, universe):
    from sensex.core.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown source"):
        update_store(home, universe, "bloomberg", yahoo_reachable=lambda: False)


def test_auto_offline_with_nothing_stored_uses_the_synthetic_market(home, universe):
    result = update_store(home, universe, "auto", start="2021-01-01", end="2021-03-31", yahoo_reachable=lambda: False)
    assert result["source"] == "synthetic" and result["synthetic"] is True
    assert "SYNTHETIC" in result["message"]
    assert store.read_meta(home.store_dir)["source"] == "synthetic"


def test_bad_csv_files_are_reported_and_the_store_keeps_what_it_had(home, universe, market, tmp_path):
    store.write(home.store_dir, market, "csv")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    tcs = market[(market["symbol"] == "TCS") & (market["date"] > "2021-12-01")]
    tcs.rename(columns={"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
                        "adj_close": "Adj Close", "volume": "Volume"}).drop(columns="symbol").to_csv(incoming / "TCS.csv", index=False)
    (incoming / "INFY.csv").write_text("this is not,a price file\n1,2\n")
    (incoming / "ITC.csv").write_text("")
    result = update_store(home, universe, "csv", csv_dir=incoming, yahoo_reachable=lambda: False)
    assert result["rows_added"] == 0
    assert set(result["problems"]) >= {"INFY.csv", "ITC.csv"}
    assert len(store.read(home.store_dir)) == len(market)


def _crash_before_meta(monkeypatch) -> None:
    """The process dies after the data file is in place and before meta.json is replaced."""

    real = store._atomic_write_bytes

    def dies_at_meta(path, data):
        if path.name == store.META_FILE:
            raise SystemExit("killed between the data write and the metadata write")
        real(path, data)

    monkeypatch.setattr(store, "_atomic_write_bytes", dies_at_meta)


def test_a_crash_between_data_and_meta_is_repaired_on_read(home, market, monkeypatch):
    old = market[market["date"] <= "2021-06-30"]
    store.write(home.store_dir, old, "synthetic")
    stale = store.read_meta(home.store_dir)
    with monkeypatch.context() as patch:
        _crash_before_meta(patch)
        with pytest.raises(SystemExit):
            store.write(home.store_dir, market, "synthetic")
    assert json.loads((home.store_dir / store.META_FILE).read_text())["rows"] == stale["rows"]  # the crash's state
    meta = store.read_meta(home.store_dir)
    assert meta["rows"] == len(market) and meta["last_date"] == "2021-12-31"
    assert meta["content_hash"] == store.content_hash(store.read(home.store_dir)) != stale["content_hash"]
    assert meta["symbols"]["SENSEX"]["last"] == "2021-12-31"
    assert json.loads((home.store_dir / store.META_FILE).read_text())["write_id"] == meta["write_id"]  # repaired on disk


def test_after_the_crash_status_and_updates_report_the_stored_data(home, universe, monkeypatch):
    from sensex.jobs import commands

    update_store(home, universe, "synthetic", start="2021-01-01", end="2021-03-31", yahoo_reachable=lambda: False)
    with monkeypatch.context() as patch:
        _crash_before_meta(patch)
        with pytest.raises(SystemExit):
            update_store(home, universe, "synthetic", end="2021-06-30", yahoo_reachable=lambda: False)
    status = commands.data_status(home)
    stored = store.read(home.store_dir)
    assert status["store"]["last_date"] == "2021-06-30" and status["store"]["rows"] == len(stored)
    assert status["store"]["content_hash"] == store.content_hash(stored)
    later = update_store(home, universe, "synthetic", end="2021-07-31", yahoo_reachable=lambda: False)
    # 30 members and the index on 21 BSE sessions, the S&P 500 on July's 21 NYSE sessions.
    assert later["rows_added"] == 31 * 21 + 21 and later["last_date"] == "2021-07-30"
    meta = store.read_meta(home.store_dir)
    assert meta["rows"] == len(store.read(home.store_dir)) and meta["last_date"] == "2021-07-30"


def test_a_crash_while_switching_from_synthetic_to_csv_does_not_keep_saying_synthetic(home, universe, market, tmp_path, monkeypatch):
    from sensex.jobs import commands

    store.write(home.store_dir, market[market["date"] <= "2021-03-31"], "synthetic")
    folder = tmp_path / "csv"
    folder.mkdir()
    real = market[market["date"] >= "2021-01-01"]
    for symbol, rows in real.groupby("symbol"):
        rows.rename(columns={"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close",
                             "adj_close": "Adj Close", "volume": "Volume"}).drop(columns="symbol").to_csv(folder / f"{symbol}.csv", index=False)
    with monkeypatch.context() as patch:
        _crash_before_meta(patch)
        with pytest.raises(SystemExit):
            update_store(home, universe, "csv", csv_dir=folder, yahoo_reachable=lambda: False)
    meta = store.read_meta(home.store_dir)
    assert meta["source"] == "csv" and meta["synthetic"] is False
    assert meta["first_date"] == "2021-01-01" and meta["rows"] == len(real)
    status = commands.data_status(home)
    assert status["synthetic"] is False and status["store"]["source"] == "csv"


def test_a_killed_process_leaves_a_store_that_reads_right(home, market, tmp_path):
    """The same crash with a real kill (os._exit: no cleanup runs) in another process."""
    import subprocess
    import sys
    import textwrap

    store.write(home.store_dir, market[market["date"] <= "2021-06-30"], "synthetic")
    market.to_parquet(tmp_path / "all.parquet")
    child = textwrap.dedent(f"""
        import os, pandas as pd
        from pathlib import Path
        from sensex.data import store
        real = store._atomic_write_bytes
        def dies_at_meta(path, data):
            if path.name == store.META_FILE:
                os._exit(9)
            real(path, data)
        store._atomic_write_bytes = dies_at_meta
        store.write(Path({str(home.store_dir)!r}), pd.read_parquet({str(tmp_path / 'all.parquet')!r}), "csv")
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    meta = store.read_meta(home.store_dir)
    assert (meta["source"], meta["rows"], meta["last_date"]) == ("csv", len(market), "2021-12-31")


def test_a_store_without_meta_json_describes_itself(home, market):
    store.write(home.store_dir, market, "csv")
    (home.store_dir / store.META_FILE).unlink()
    meta = store.read_meta(home.store_dir)
    assert meta["source"] == "csv" and meta["rows"] == len(market)
    (home.store_dir / store.META_FILE).write_text("{torn")
    assert store.read_meta(home.store_dir)["rows"] == len(market)


def test_the_parsed_store_memo_is_bounded(tmp_path, market):
    small = market[market["date"] >= "2021-12-01"]
    for i in range(store.MEMO_MAX_STORES + 3):
        store.write(tmp_path / f"s{i}", small, "synthetic")
        store.read(tmp_path / f"s{i}")
        store.read_meta(tmp_path / f"s{i}")
    assert len(store._memo) <= store.MEMO_MAX_STORES
    assert len(store._embedded_memo) <= store.MEMO_MAX_STORES


def test_meta_json_is_trusted_only_for_the_data_file_it_was_stamped_for(home, market, monkeypatch):
    """The API reads the metadata on every request without opening the Parquet file: meta.json
    carries the data file's (mtime, size) and is believed while they match. A copied home
    (new times) is checked against the data file once and stamped again."""
    meta = store.write(home.store_dir, market, "synthetic")
    assert store.STAMP_KEY not in store.read_meta(home.store_dir)
    with monkeypatch.context() as patch:
        patch.setattr(store, "embedded_meta", lambda _: pytest.fail("opened the data file"))
        assert store.read_meta(home.store_dir) == meta
    data = home.store_dir / store.DATA_FILE
    stamp = os.stat(data)
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # as `cp -r` leaves a copy
    opened = []
    with monkeypatch.context() as patch:
        real = store.embedded_meta
        patch.setattr(store, "embedded_meta", lambda d: opened.append(d) or real(d))
        assert store.read_meta(home.store_dir) == meta
        assert store.read_meta(home.store_dir) == meta
    assert len(opened) == 1  # checked once, then stamped again
    on_disk = json.loads((home.store_dir / store.META_FILE).read_text())
    assert on_disk[store.STAMP_KEY] == [stamp.st_mtime_ns + 10**9, stamp.st_size]



def test_synthetic_prices_never_replace_real_ones_unless_asked(home, universe, market):
    from sensex.core.errors import ConfigError

    real = market[market["date"] <= "2021-06-30"]
    store.write(home.store_dir, real, "csv")
    before = store.read_meta(home.store_dir)["content_hash"]
    with pytest.raises(ConfigError, match=r"The store holds real prices \(csv, .*\): the synthetic market would"
                                          r" replace them with invented ones; pass --replace"):
        update_store(home, universe, "synthetic", yahoo_reachable=lambda: False)
    assert store.read_meta(home.store_dir)["content_hash"] == before  # not a row touched
    replaced = update_store(home, universe, "synthetic", end="2021-07-30", yahoo_reachable=lambda: False, replace=True)
    assert replaced["replaced_store"] is True and store.read_meta(home.store_dir)["synthetic"] is True
