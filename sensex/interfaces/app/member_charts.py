"""Charts of the member and sector forecasts (the Members page): plain functions of the forecast's
`members` and `sectors` lists, so they can be tested without Streamlit."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sensex.interfaces.app.charts import DOWN_COLOUR, FLAT_COLOUR, UP_COLOUR, _layout, probability_text


def probability_treemap(members: list[dict], title: str = "members") -> go.Figure:
    """Members grouped by sector, equal tiles, coloured by P(UP) with 50% the neutral colour;
    a sector's colour is its members' mean P(UP). Members without data on the last session are left out."""
    frame = pd.DataFrame([m for m in members if m.get("probability") is not None])
    sectors = sorted(frame["sector"].unique())
    mean = frame.groupby("sector")["probability"].mean()
    limit = max(0.05, float((frame["probability"] - 0.5).abs().max()))  # symmetric around 50%
    ids = ["all"] + [f"sector/{s}" for s in sectors] + [f"member/{m}" for m in frame["symbol"]]
    labels = [title] + sectors + list(frame["symbol"])
    parents = [""] + ["all"] * len(sectors) + [f"sector/{s}" for s in frame["sector"]]
    counts = frame["sector"].value_counts()
    values = [float(len(frame))] + [float(counts[s]) for s in sectors] + [1.0] * len(frame)
    colours = [float(frame["probability"].mean())] + [float(mean[s]) for s in sectors] + list(frame["probability"])
    text = [f"P(UP) {probability_text(c)}" for c in colours]
    figure = go.Figure(go.Treemap(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total", text=text,
        marker={"colors": colours, "colorscale": "RdYlGn", "cmin": 0.5 - limit, "cmax": 0.5 + limit, "cmid": 0.5,
                "colorbar": {"title": {"text": "P(UP)"}, "tickformat": ".0%"}},
        texttemplate="<b>%{label}</b><br>%{text}", hovertemplate="%{label}: %{text}<extra></extra>"))
    return _layout(figure, 460)


def sector_probability_bars(sectors: list[dict]) -> go.Figure:
    """Each sector's P(UP), highest at the top, as a bar from the 50% line (a coin) to its P(UP) on an
    axis symmetric around 50%: a bar's length is how far the sector leans, and a bar drawn from 0 on an
    axis cut at 45% would make 52% look like a strong call."""
    frame = pd.DataFrame(sectors).sort_values("probability")
    colours = [UP_COLOUR if p > 0.5 else DOWN_COLOUR if p < 0.5 else FLAT_COLOUR for p in frame["probability"]]
    figure = go.Figure(go.Bar(x=frame["probability"] - 0.5, base=0.5, y=frame["sector"], orientation="h",
                              marker_color=colours, text=[probability_text(p) for p in frame["probability"]],
                              textposition="outside", cliponaxis=False, customdata=frame["probability"],
                              hovertemplate="%{y}: P(UP) %{customdata:.1%}<extra></extra>"))
    spread = max(0.05, float((frame["probability"] - 0.5).abs().max()) * 1.3)
    figure.add_vline(x=0.5, line_dash="dot", line_color="#424242")
    figure.update_xaxes(range=[0.5 - spread, 0.5 + spread], tickformat=".0%",
                        title_text="P(sector up), bars from 50%")
    return _layout(figure, max(260, 34 * len(frame)), showlegend=False)
