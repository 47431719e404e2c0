"""The market-status chip on every page: BSE's state and the time to the next open or close.

The clock is computed here from the calendar (a leaf module, as the calendar note is), not
fetched: it costs nothing and is exact at every rerun. The chip sits in a fragment that reruns
itself every PRICE_TTL seconds, so an open page keeps counting down without reloading more often
than the live prices can change in the cache.
"""

from __future__ import annotations

import streamlit as st

from sensex.core.cache import PRICE_TTL
from sensex.market import clock as market_clock

COLOURS = {"open": "green", "pre_open": "orange", "closed": "gray", "holiday": "violet", "weekend": "gray"}
LABELS = {"open": "BSE open", "pre_open": "BSE pre-open auction", "closed": "BSE closed", "holiday": "BSE holiday",
          "weekend": "Weekend, BSE closed"}
ICONS = {"open": ":material/radio_button_checked:", "pre_open": ":material/hourglass_top:"}


def chip_text(reading: market_clock.ClockReading) -> str:
    """'BSE open · closes in 3 h 30 min (15:30 IST)'."""
    event, at = reading.next_change
    wait = market_clock.until_text((at - reading.now).total_seconds())
    day = "" if at.date() == reading.now.date() else f"{at.strftime('%a')} "
    verb = "closes" if event == "close" else "opens"
    return f"{LABELS[reading.state]} · {verb} in {wait} ({day}{at.strftime('%H:%M')} IST)"


@st.fragment(run_every=PRICE_TTL)
def show() -> None:
    reading = market_clock.read_clock()
    st.badge(chip_text(reading), color=COLOURS[reading.state], icon=ICONS.get(reading.state, ":material/schedule:"))
