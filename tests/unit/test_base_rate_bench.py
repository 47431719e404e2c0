"""bench/base_rate.py on a small index file the test writes (read by the CSV source): labels, windows, errors."""

import numpy as np
import pytest
from bench_scripts import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("base_rate", "base_rate_bench")


def _write(path, closes_by_year):
    lines = ["Date,Close,High,Low,Open,Volume", ",^BSESN,^BSESN,^BSESN,^BSESN,^BSESN"]  # yfinance's second header
    for year, closes in closes_by_year.items():
        lines += [f"{year}-01-{day + 2:02d},{close},{close},{close},{close},0" for day, close in enumerate(closes)]
    path.write_text("\n".join(lines) + "\n")


def test_each_session_is_labelled_by_the_next_close_and_kept_in_its_own_year(bench, tmp_path):
    path = tmp_path / "BSESN.csv"
    _write(path, {2001: [9990, 9995, 9992, 9999], 2002: [10000, 10001]})  # 9999 < 10000: numbers, not strings
    by_year = bench.yearly_up(path)
    assert by_year[2001].tolist() == [1.0, 0.0, 1.0, 1.0] and by_year[2002].tolist() == [1.0]


def test_errors_compare_windows_on_the_years_before_each_target(bench):
    by_year = {2000: np.array([1.0, 1.0]), 2001: np.array([0.0, 0.0]), 2002: np.array([1.0, 0.0])}
    table = bench.errors(by_year, 2002, 2002)
    assert table["last year"]["rmse"] == pytest.approx(0.5)  # 2001 said 0.0, 2002 was 0.5
    assert table["every year so far"]["rmse"] == pytest.approx(0.0)  # 2000-2001 said 0.5
