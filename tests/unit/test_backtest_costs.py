"""The shipped costs file: every figure sourced and dated, each rate applied on its own dates; bad
files refused in one sentence."""

from __future__ import annotations

import pytest
import yaml

from sensex.backtest.costs import CHARGE_FIGURES, DEFAULT_COSTS, load_costs
from sensex.core.errors import ConfigError


def test_every_figure_of_the_shipped_file_has_a_source_and_a_date():
    costs = load_costs()
    assert set(costs.instruments) == {"futures", "etf"} and costs.default_instrument == "futures"
    for instrument in costs.instruments.values():
        schedules = [instrument.lot_size, instrument.slippage_bps, instrument.price_ratio,
                     *(s for tariff in instrument.tariffs.values() for s in tariff.figures.values())]
        for schedule in schedules:
            assert all(source.strip() for source in schedule.sources), schedule.name
            assert len(schedule.starts) == len(schedule.values) >= 1


def test_rates_change_on_their_dates():
    futures = load_costs().instrument("futures").tariff("delivery").figures
    stt = futures["stt_sell_pct"]
    assert [stt.at(d) for d in ("2013-05-31", "2013-06-01", "2023-03-31", "2023-04-01", "2024-09-30", "2024-10-01")] \
        == [0.017, 0.01, 0.01, 0.0125, 0.0125, 0.02]
    assert futures["stamp_sell_pct"].at("2020-06-30") > 0 and futures["stamp_sell_pct"].at("2020-07-01") == 0
    assert futures["gst_pct"].at("2017-06-30") == 15.0 and futures["gst_pct"].at("2017-07-01") == 18.0
    etf = load_costs().instrument("etf")
    assert etf.tariff("delivery").figures["stamp_buy_pct"].at("2020-07-01") == 0.015
    assert etf.tariff("intraday").figures["stamp_buy_pct"].at("2020-07-01") == 0.003
    assert etf.tariff("delivery").figures["stt_sell_pct"].at("2013-06-01") == 0.001


def test_a_fill_before_a_figure_starts_is_refused():
    with pytest.raises(ConfigError, match="in force on 2001-01-01"):
        load_costs().instrument("futures").tariff("delivery").charges("2001-01-01", False, 1e6)


def test_charges_of_one_sell_on_the_shipped_rates():
    charges = load_costs().instrument("futures").tariff("delivery").charges("2025-01-10", False, 2_000_000)
    assert charges["brokerage"] == 20  # ₹20 is below 0.03% of ₹20 lakh
    assert charges["stt"] == pytest.approx(400)  # 0.02%
    assert charges["stamp_duty"] == 0  # buyer only since July 2020
    assert charges["sebi_fee"] == pytest.approx(2)  # ₹10 a crore
    assert charges["gst"] == pytest.approx(0.18 * (20 + 0 + 2))


def edited(tmp_path, change) -> str:
    data = yaml.safe_load(DEFAULT_COSTS.read_text())
    change(data)
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["instruments"]["futures"].pop("stt_sell_pct"), "lacks futures stt_sell_pct"),
    (lambda d: d["instruments"]["etf"]["delivery"].pop("gst_pct"), "lacks etf delivery gst_pct"),
    (lambda d: d["instruments"]["futures"]["sebi_fee_pct"][0].update(value=-1), "negative figure"),
    (lambda d: d["instruments"]["futures"]["lot_size"][0].update(value=None), "not a number"),
    (lambda d: d["instruments"]["futures"]["gst_pct"][0].pop("source"), "has no source"),
    (lambda d: d["instruments"]["futures"]["stt_sell_pct"].reverse(), "out of date order"),
    (lambda d: d.pop("capital_rupees"), "capital_rupees"),
    (lambda d: d["instruments"]["futures"].update(kind="options"), "kind 'options'"),
])
def test_a_bad_costs_file_is_one_sentence(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_costs(edited(tmp_path, change))
    assert "\n" not in str(caught.value)


def test_unreadable_and_unknown(tmp_path):
    with pytest.raises(ConfigError, match="No costs file"):
        load_costs(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("instruments: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_costs(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="Unknown instrument 'bonds'"):
        load_costs().instrument("bonds")


def test_zero_costs_keep_lots_and_capital_and_change_the_hash():
    costs = load_costs()
    zero = costs.without_costs()
    assert zero.zero and zero.sha256 != costs.sha256 and zero.capital == costs.capital
    futures = zero.instrument("futures")
    assert futures.lot_size.at("2021-01-04") == costs.instrument("futures").lot_size.at("2021-01-04")
    assert futures.slippage_bps.at("2021-01-04") == 0
    assert all(v == 0 for v in futures.tariff("delivery").charges("2021-01-04", True, 1e6).values())
    assert set(futures.tariff("delivery").figures) == set(CHARGE_FIGURES)
