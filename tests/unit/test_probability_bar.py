"""The Forecast card's P(UP) bar: plain HTML with the 50% line, the interval and the colour of
the direction, so the first page drawn needs no Plotly."""

import re

from sensex.interfaces.app import charts


def widths(html: str) -> list[float]:
    return [float(w) for w in re.findall(r"width:([\d.]+)%", html)]


def test_the_bar_fills_to_p_in_the_direction_colour_with_the_coin_line():
    up = charts.probability_bar(0.6234, None, "NIFTY 50")
    assert widths(up)[0] == 62.3
    assert charts.UP_COLOUR in up and charts.DOWN_COLOUR not in up
    assert "left:50%" in up and "50%: a coin" in up
    assert 'aria-label="P(UP) 62.3%"' in up and "probability the NIFTY 50 closes higher" in up
    assert "interval" not in up  # no interval, no whiskers
    down = charts.probability_bar(0.41, None)
    assert charts.DOWN_COLOUR in down and charts.UP_COLOUR not in down


def test_the_interval_spans_its_ends_and_a_narrow_bar_keeps_its_label_outside():
    html = charts.probability_bar(0.08, [0.02, 0.1999])
    assert widths(html)[:2] == [8.0, 18.0]  # the bar, then the interval's width from its left end
    assert "left:2.0%" in html and "interval 2.0% to 20.0%" in html
    outside, inside = "left:100%;padding-left:6px", "left:0;padding-left:8px"
    assert outside in html and inside not in html  # 8% is too narrow to hold its label
    assert inside in charts.probability_bar(0.5, None) and outside not in charts.probability_bar(0.5, None)


def test_out_of_range_values_are_clamped_not_drawn_outside_the_track():
    html = charts.probability_bar(1.2, [-0.1, 1.5])
    assert widths(html)[:2] == [100.0, 100.0] and "left:0.0%" in html


def test_a_universe_name_is_text_not_markup():
    """A universe file of one's own names its index (`# name`): it must not become HTML."""
    html = charts.probability_bar(0.55, None, '<img src=x onerror="alert(1)">Mine & Co')
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Mine &amp; Co" in html
