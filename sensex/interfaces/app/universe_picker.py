"""The sidebar's universe selector: which index the dashboard shows.

It lists the universe the dashboard was started with (`sensex app --universe`, the default) and
the shipped ones, each with whether this SENSEX_HOME holds its index (`sensex.data.universes`).
The choice lives in the session state under `common.UNIVERSE_KEY`; every backend and cached read
is keyed on it, so each page is drawn for the chosen universe. Through the REST API there is no
choice: an API serves the one universe it was started with.
"""

from __future__ import annotations

import streamlit as st

from sensex.interfaces.app import common


def label(choice: dict) -> str:
    held = f"data to {choice['last_date']}" if choice["has_data"] else "no data"
    return f"{choice['name']} ({held})"


def show() -> None:
    choices = common.universes()
    if not choices:
        st.sidebar.caption(f"Universe: **{common.universe().name}**, the one the REST API serves "
                           "(`sensex serve --universe NAME` starts an API for another).")
        return
    by_spec = {choice["spec"]: choice for choice in choices}
    if st.session_state.get(common.UNIVERSE_KEY) not in by_spec:
        st.session_state[common.UNIVERSE_KEY] = choices[0]["spec"]  # the started universe
    st.sidebar.selectbox("Universe", list(by_spec), key=common.UNIVERSE_KEY, format_func=lambda s: label(by_spec[s]),
                         help="Which index every page shows. Each universe has its own data rows and its own "
                              "registered models in this SENSEX_HOME.")
    chosen = by_spec[st.session_state[common.UNIVERSE_KEY]]
    st.sidebar.caption(f"**{chosen['name']}**: index {chosen['index_symbol']} on {chosen['exchange']}, "
                       f"{chosen['members']} members ({chosen['stored_members']} stored)."
                       + ("" if chosen["started"] else " Not the universe the dashboard was started with."))
