"""Text formats and Plotly figures for the dashboard: plain data in, presentation out.

No Streamlit here, and no statistics: every number shown was computed by sensex.serving.
One formatting function per kind of number, so a probability reads the same on every page.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

UP_COLOUR, DOWN_COLOUR, FLAT_COLOUR = "#1a9850", "#d73027", "#9e9e9e"
NOISE_FLOOR_PP = 0.1  # effects smaller than this (in percentage points) are noise, not reactions
MIN_EFFECT_RANGE_PP = 1.0  # effect axes span at least +-1 pp, so tiny effects stay tiny on screen
SESSIONS_PER_MONTH = 21  # BSE: about 250 sessions a year
CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


# -- text ------------------------------------------------------------------------------------------
def probability_text(p: float | None) -> str:
    """P(UP) as shown everywhere: from the forecast's 4-decimal value, one decimal of percent."""
    if p is None:
        return "pending"
    return f"{round(float(p), 4) * 100:.1f}%"


def change_text(pct: float) -> str:
    return f"{pct:+.2f}%"


def pp_text(delta: float) -> str:
    """A change in probability (0.0123) in percentage points ("+1.23 pp")."""
    return f"{delta * 100:+.2f} pp"


def expected_move_text(move: dict) -> str:
    """`Expected move ±0.9% (about 720 points)`: how far, never which way."""
    return f"Expected move ±{move['pct']:.1f}% (about {move['points']:,.0f} points)"


def session_text(day: str | None) -> str:
    """`2022-01-03` -> `Mon 2022-01-03`: a session is read by its weekday too."""
    if not day:
        return "pending"
    return f"{pd.Timestamp(day):%a %Y-%m-%d}"


def age_text(days_old: int | None, sessions_behind: int) -> str:
    if days_old is None:
        return "no data stored: run `sensex data update`"
    if sessions_behind <= 0:
        return "data is up to date"
    return f"data is {days_old:,} day{'s' * (days_old != 1)} old ({sessions_behind:,} session{'s' * (sessions_behind != 1)} behind): update"


def _layout(figure: go.Figure, height: int, top: int = 40, **kwargs) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": top, "b": 10},
                         legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0,
                                 "yref": "container" if top > 40 else "paper"}, **kwargs)
    return figure


# -- forecast --------------------------------------------------------------------------------------
def probability_bar(p: float, interval: list[float] | None = None, index_name: str = "SENSEX") -> str:
    """P(UP) as a bar from 0 to 100%, the 50% coin line, and the interval when the forecast has
    one: an HTML fragment for `st.html`. Not a Plotly figure: the Forecast page is the first one
    drawn, and a single Plotly chart on it made the browser fetch and start Plotly's 4.7 MB of
    JavaScript before showing the card (about 0.4 s of the first render, bench/app.py)."""
    value = min(max(round(float(p), 4) * 100, 0.0), 100.0)
    colour = UP_COLOUR if p >= 0.5 else DOWN_COLOUR
    label = probability_text(p)
    # The label sits at the start of the bar when it fits (the interval's whiskers are near the
    # bar's end), just right of it otherwise.
    inside = value >= 15
    label_style = ("left:0;padding-left:8px;color:#fff" if inside else "left:100%;padding-left:6px;color:#262730")
    spread = ""
    if interval and len(interval) == 2 and None not in interval:
        low, high = sorted(min(max(round(float(v), 4) * 100, 0.0), 100.0) for v in interval)
        spread = (f'<div title="interval {probability_text(low / 100)} to {probability_text(high / 100)}" style="position:'
                  f'absolute;left:{low:.1f}%;width:{high - low:.1f}%;top:50%;height:10px;margin-top:-5px;'
                  'border:2px solid #424242;border-top:none;border-bottom:none;box-sizing:border-box">'
                  '<div style="position:absolute;left:0;right:0;top:4px;border-top:2px solid #424242"></div></div>')
    ticks = "".join(f'<span style="position:absolute;left:{tick}%;transform:translateX(-{tick}%)">{tick}%</span>'
                    for tick in (0, 25, 50, 75, 100))  # each label under its mark, the end ones inside the track
    return (
        f'<div role="img" aria-label="P(UP) {label}" style="font-family:inherit;font-size:14px;margin:28px 4px 4px">'
        '<div style="position:relative;height:34px;background:#f0f2f6;border-radius:4px">'
        f'<div style="position:relative;width:{value:.1f}%;height:100%;background:{colour};border-radius:4px">'
        f'<span style="position:absolute;top:0;line-height:34px;font-weight:600;white-space:nowrap;{label_style}">'
        f'{label}</span></div>{spread}'
        '<div style="position:absolute;left:50%;top:-6px;bottom:-6px;border-left:2px dashed #424242"></div>'
        '<div style="position:absolute;left:50%;top:-26px;transform:translateX(-50%);white-space:nowrap;'
        'color:#424242">50%: a coin</div></div>'
        f'<div style="position:relative;height:20px;color:#6b6f7b;margin-top:4px">{ticks}</div>'
        f'<div style="text-align:center;color:#6b6f7b">probability the {html.escape(index_name)} closes higher</div></div>'
    )


# -- market ----------------------------------------------------------------------------------------
def _missing_weekdays(dates: pd.DatetimeIndex) -> list[str]:
    """Weekdays without a session (holidays), hidden so candles sit side by side."""
    if len(dates) == 0:
        return []
    weekdays = pd.bdate_range(dates.min(), dates.max())
    return [str(d.date()) for d in weekdays.difference(dates)]


def candlestick(bars: list[dict], index_name: str = "SENSEX", band: dict | None = None) -> go.Figure:
    """Daily candles with the 50- and 200-session averages over the index's volume; `band`
    ({"date", "low", "high"}: the range forecast's 80% band for the next session's close) is
    drawn after the last candle."""
    frame = pd.DataFrame(bars)
    frame["date"] = pd.to_datetime(frame["date"])
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03)
    figure.add_trace(go.Candlestick(x=frame["date"], open=frame["open"], high=frame["high"], low=frame["low"],
                                    close=frame["close"], name=index_name, increasing_line_color=UP_COLOUR,
                                    decreasing_line_color=DOWN_COLOUR), row=1, col=1)
    for column, colour in (("sma_50", "#1f77b4"), ("sma_200", "#ff7f0e")):
        if column in frame and frame[column].notna().any():
            sessions = column.split("_")[1]
            figure.add_trace(go.Scatter(x=frame["date"], y=frame[column], mode="lines", line={"color": colour, "width": 1.5},
                                        name=f"{sessions}-session average"), row=1, col=1)
    colours = [UP_COLOUR if c >= o else DOWN_COLOUR for o, c in zip(frame["open"], frame["close"], strict=True)]
    figure.add_trace(go.Bar(x=frame["date"], y=frame["volume"], marker_color=colours, name="volume",
                            showlegend=False), row=2, col=1)
    dates = pd.DatetimeIndex(frame["date"])
    if band:
        day = pd.Timestamp(band["date"])
        dates = dates.append(pd.DatetimeIndex([day]))
        text = f"80% band for {day:%a %Y-%m-%d}: {band['low']:,.0f} to {band['high']:,.0f} (how far, not which way)"
        figure.add_trace(go.Scatter(x=[day, day], y=[band["low"], band["high"]], mode="lines+markers",
                                    line={"color": FLAT_COLOUR, "width": 10}, marker={"symbol": "line-ew-open", "size": 16},
                                    opacity=0.6, name="80% band, next session", hovertext=[text, text],
                                    hoverinfo="text"), row=1, col=1)
    figure.update_xaxes(rangeslider_visible=False, rangebreaks=[{"values": _missing_weekdays(dates)},
                                                                 {"bounds": ["sat", "mon"]}])
    figure.update_yaxes(title_text="index level", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    return _layout(figure, 560)


def sector_treemap(members: list[dict], index_name: str = "SENSEX") -> go.Figure:
    """Members sized by index weight, grouped by sector, coloured by the day's change."""
    frame = pd.DataFrame(members)
    limit = max(2.0, float(frame["change_pct"].abs().max()))  # symmetric, so 0% is the neutral colour
    sectors = sorted(frame["sector"].unique())
    by_sector = frame.groupby("sector")
    sector_change = (by_sector.apply(lambda g: (g["change_pct"] * g["weight"]).sum() / g["weight"].sum(), include_groups=False))
    total = float((frame["change_pct"] * frame["weight"]).sum() / frame["weight"].sum())
    ids = ["members"] + [f"sector/{s}" for s in sectors] + [f"member/{m}" for m in frame["symbol"]]
    labels = [f"{index_name} members"] + sectors + list(frame["symbol"])
    parents = [""] + ["members"] * len(sectors) + [f"sector/{s}" for s in frame["sector"]]
    values = ([float(frame["weight"].sum())] + [float(by_sector["weight"].sum()[s]) for s in sectors]
              + list(frame["weight"].astype(float)))
    colours = [total] + [float(sector_change[s]) for s in sectors] + list(frame["change_pct"].astype(float))
    text = [change_text(c) for c in colours]
    names = ["weighted members"] + list(sectors) + list(frame["name"])
    figure = go.Figure(go.Treemap(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total", text=text, customdata=names,
        marker={"colors": colours, "colorscale": "RdYlGn", "cmin": -limit, "cmax": limit, "cmid": 0,
                "colorbar": {"title": {"text": "change"}, "ticksuffix": "%"}},
        texttemplate="<b>%{label}</b><br>%{text}",
        hovertemplate="%{customdata}<br>%{text} on the day<br>weight %{value:.2f}<extra></extra>"))
    return _layout(figure, 460)


def sector_bars(sectors: list[dict]) -> go.Figure:
    """Sector moves, largest at the top, on a % axis."""
    frame = pd.DataFrame(sectors).sort_values("change_pct")
    colours = [UP_COLOUR if v > 0 else DOWN_COLOUR if v < 0 else FLAT_COLOUR for v in frame["change_pct"]]
    figure = go.Figure(go.Bar(x=frame["change_pct"], y=frame["sector"], orientation="h", marker_color=colours,
                              text=[change_text(v) for v in frame["change_pct"]], textposition="outside",
                              hovertemplate="%{y}: %{x:+.2f}%<extra></extra>"))
    limit = max(0.5, float(frame["change_pct"].abs().max()) * 1.25)
    figure.update_xaxes(range=[-limit, limit], ticksuffix="%", zeroline=True, zerolinecolor="#424242",
                        title_text="weighted change of the sector's members vs the previous session")
    figure.update_yaxes(title_text="sector")
    return _layout(figure, max(260, 34 * len(frame)), showlegend=False)


# -- explanations ----------------------------------------------------------------------------------
def effect_bars(rows: list[dict], label: str) -> go.Figure:
    """Occlusion effects in pp, largest |effect| at the top; the axis spans at least +-1 pp and
    effects under the noise floor are grey."""
    frame = pd.DataFrame(rows)
    frame["pp"] = frame["delta"] * 100
    frame = frame.reindex(frame["pp"].abs().sort_values().index)  # Plotly draws bottom-up
    colours = [FLAT_COLOUR if abs(v) < NOISE_FLOOR_PP else UP_COLOUR if v > 0 else DOWN_COLOUR for v in frame["pp"]]
    # Only effects above the noise floor get a label; the rest would all read "+0.00 pp".
    text = [pp_text(v / 100) if abs(v) >= NOISE_FLOOR_PP else "" for v in frame["pp"]]
    figure = go.Figure(go.Bar(x=frame["pp"], y=frame[label], orientation="h", marker_color=colours,
                              text=text, textposition="outside", cliponaxis=False,
                              hovertemplate="%{y}: %{x:+.4f} pp<extra></extra>"))
    limit = max(MIN_EFFECT_RANGE_PP, float(frame["pp"].abs().max()) * 1.3)
    for x in (-NOISE_FLOOR_PP, NOISE_FLOOR_PP):
        figure.add_vline(x=x, line_dash="dot", line_color=FLAT_COLOUR)
    figure.add_annotation(x=0, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                          text=f"noise floor ±{NOISE_FLOOR_PP} pp", font={"size": 11, "color": "#757575"})
    figure.update_xaxes(range=[-limit, limit], ticksuffix=" pp", zeroline=True, zerolinecolor="#424242",
                        title_text="contribution to P(UP) (pp): with it minus without it;<br>positive pushes toward UP")
    return _layout(figure, max(260, 24 * len(frame) + 80), showlegend=False)


def member_family_heatmap(grid: dict) -> go.Figure:
    """Effect in pp of removing one indicator family of one member; colour range at least +-1 pp."""
    frame = pd.DataFrame(grid["delta"], index=grid["symbols"], columns=grid["families"]) * 100
    frame = frame.loc[frame.abs().sum(axis=1).sort_values(ascending=False).index]  # most moved member on top
    limit = max(MIN_EFFECT_RANGE_PP, float(frame.abs().to_numpy().max()))
    figure = go.Figure(go.Heatmap(z=frame.to_numpy(), x=list(frame.columns), y=list(frame.index), zmid=0,
                                  # The bars' colours: DOWN red, UP green, neutral at zero.
                                  zmin=-limit, zmax=limit, colorscale=[[0.0, DOWN_COLOUR], [0.5, "#f5f5f5"], [1.0, UP_COLOUR]],
                                  colorbar={"title": {"text": "pp"}, "ticksuffix": " pp"},
                                  hovertemplate="%{y} %{x}: %{z:+.3f} pp<extra></extra>"))
    figure.update_xaxes(title_text="indicator family", side="bottom")
    figure.update_yaxes(title_text="member", autorange="reversed")
    return _layout(figure, 26 * len(frame) + 140)


# -- track record ----------------------------------------------------------------------------------
def live_forecasts(rows: list[dict]) -> go.Figure:
    """P(UP) of each live forecast over time, marked by what happened."""
    frame = pd.DataFrame(rows).sort_values("as_of")
    frame["pp"] = frame["probability"].map(lambda p: round(float(p), 4) * 100)
    no_call = frame["no_call"].fillna(False).astype(bool) if "no_call" in frame else pd.Series(False, index=frame.index)
    figure = go.Figure()
    for name, mask, colour, symbol in (
        ("correct", frame["correct"] == True, UP_COLOUR, "circle"),  # noqa: E712 (None stays out)
        ("wrong", frame["correct"] == False, DOWN_COLOUR, "x"),  # noqa: E712
        ("no call (not scored)", no_call, FLAT_COLOUR, "diamond-open"),
        ("pending", frame["correct"].isna() & ~no_call, FLAT_COLOUR, "circle-open"),
    ):
        part = frame[mask]
        if len(part):
            figure.add_trace(go.Scatter(x=pd.to_datetime(part["as_of"]), y=part["pp"], mode="markers", name=name,
                                        marker={"color": colour, "symbol": symbol, "size": 9},
                                        customdata=part[["target_date", "realized"]].fillna("pending"),
                                        hovertemplate="from %{x|%Y-%m-%d} for %{customdata[0]}: P(UP) %{y:.1f}%,"
                                                      " realized %{customdata[1]}<extra></extra>"))
    figure.add_hline(y=50, line_dash="dash", line_color="#424242")
    low = min(40.0, float(frame["pp"].min()) - 2)
    high = max(60.0, float(frame["pp"].max()) + 2)
    figure.update_yaxes(range=[low, high], ticksuffix="%", title_text="P(UP)")
    days = pd.to_datetime(frame["as_of"])
    figure.update_xaxes(title_text="as-of session", tickformat="%d %b %Y",
                        range=[days.min() - pd.Timedelta(days=3), days.max() + pd.Timedelta(days=3)])
    return _layout(figure, 320)


def rolling_scores(rolling: list[dict], window: int) -> go.Figure:
    frame = pd.DataFrame(rolling)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    # Two-line titles: on one line each they run into each other in a 1024 px window.
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"hit rate,<br>last {window} resolved sessions",
                                                           f"Brier score, last {window}<br>(lower is better)"))
    for column, name, colour, dash in (("hit_rate", "model", "#1f77b4", None),
                                       ("always_up_hit_rate", "always UP", FLAT_COLOUR, "dash")):
        figure.add_trace(go.Scatter(x=frame["as_of"], y=frame[column] * 100, name=name, mode="lines+markers",
                                    line={"color": colour, "dash": dash}, legendgroup=name), row=1, col=1)
    for column, name, colour, dash in (("brier", "model", "#1f77b4", None),
                                       ("always_up_brier", "always UP", FLAT_COLOUR, "dash")):
        figure.add_trace(go.Scatter(x=frame["as_of"], y=frame[column], name=name, mode="lines+markers",
                                    line={"color": colour, "dash": dash}, legendgroup=name, showlegend=False),
                         row=1, col=2)
    figure.update_yaxes(range=[0, 100], ticksuffix="%", title_text="hit rate", row=1, col=1)
    figure.update_yaxes(title_text="Brier", rangemode="tozero", row=1, col=2)
    figure.update_xaxes(title_text="as-of session")
    day_axis(figure, frame["as_of"])
    figure.update_layout(legend={"y": 1.0, "yanchor": "top"})
    return _layout(figure, 380, top=80)


def day_axis(figure: go.Figure, days) -> go.Figure:
    """Date x axes that read as days: with one point (or a few days) Plotly's automatic range spans
    milliseconds and its ticks read "23:59:59.9995", so a short span gets three days either side and
    one tick a day."""
    days = pd.to_datetime(pd.Series(days)).dropna()
    figure.update_xaxes(type="date", tickformat="%d %b %Y")
    if len(days) and days.max() - days.min() < pd.Timedelta(days=7):
        figure.update_xaxes(range=[days.min() - pd.Timedelta(days=3), days.max() + pd.Timedelta(days=3)],
                            dtick=86_400_000)
    return figure


def reliability(table: list[dict], label: str = "live forecasts") -> go.Figure:
    """Mean forecast P(UP) against the observed share of UP sessions, per equal-count bin; `label`
    names the forecasts (live or simulated) in the legend."""
    frame = pd.DataFrame(table)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="perfectly calibrated",
                                line={"color": FLAT_COLOUR, "dash": "dash"}))
    figure.add_trace(go.Scatter(x=frame["mean_probability"] * 100, y=frame["observed_up_rate"] * 100,
                                mode="lines+markers", name=label, marker={"size": 6 + 2 * frame["n"].clip(upper=10)},
                                customdata=frame["n"], line={"color": "#1f77b4"},
                                hovertemplate="forecast %{x:.1f}%, observed %{y:.1f}% (%{customdata} sessions)<extra></extra>"))
    figure.update_xaxes(range=[0, 100], ticksuffix="%", title_text="mean forecast P(UP) in the bin")
    figure.update_yaxes(range=[0, 100], ticksuffix="%", title_text="share of those sessions that closed UP")
    return _layout(figure, 380)


# -- monitoring ------------------------------------------------------------------------------------
WATCH_COLOUR, RETRAIN_COLOUR = "#f57c00", DOWN_COLOUR
PSI_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def psi_history(points: list[dict], families: list[str], thresholds: dict[str, float]) -> go.Figure:
    """PSI per feature family at each as-of point, with the watch and retrain lines. A log axis
    once some family passes 1, so the 0.10 and 0.25 lines stay readable beside a large shift."""
    dates = pd.to_datetime([point["date"] for point in points])
    figure = go.Figure()
    largest, smallest = 0.0, thresholds["watch"]
    for family in families:
        values = [(point["features"]["families"].get(family) or {}).get("psi") for point in points]
        largest = max([largest, *(v for v in values if v is not None)])
        smallest = min([smallest, *(v for v in values if v is not None and v > 0)])
        figure.add_trace(go.Scatter(x=dates, y=values, name=family, mode="lines+markers",
                                    hovertemplate=f"{family}: PSI %{{y:.3f}} on %{{x|%Y-%m-%d}}<extra></extra>"))
    # The thresholds as traces, not hline annotations: those land in the wrong place on a log axis.
    for name, colour in (("watch", WATCH_COLOUR), ("retrain", RETRAIN_COLOUR)):
        figure.add_trace(go.Scatter(x=[dates.min(), dates.max()], y=[thresholds[name]] * 2, mode="lines",
                                    name=f"{name} {thresholds[name]:.2f}", line={"color": colour, "dash": "dash"},
                                    hoverinfo="skip"))
    if largest > 1.0:
        # Round ticks of our own: Plotly's on a log axis read "2, 5, 0.1, 2, 5, 1" (minor ticks' digits).
        low, high = smallest / 1.3, largest * 1.3
        ticks = [v for v in PSI_TICKS if low <= v <= high]
        if len(ticks) > 9:  # a wide span: the thresholds and the decades
            ticks = [v for v in ticks if v in (0.1, 0.25) or math.log10(v).is_integer()]
        figure.update_yaxes(type="log", title_text="PSI (log scale)", range=[math.log10(low), math.log10(high)],
                            tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    else:
        figure.update_yaxes(range=[0, max(thresholds["retrain"] * 1.2, largest * 1.1)], title_text="PSI")
    figure.update_xaxes(title_text="as-of session", tickformat="%d %b %Y")
    # The legend inside the top margin (after `_layout`, which anchors it above the figure).
    return _layout(figure, 420, top=90).update_layout(legend={"y": 1.0, "yanchor": "top"})


def drift_performance_history(points: list[dict], window: int) -> go.Figure:
    """The rolling Brier of the model against always-UP's on the same sessions, and its AUC."""
    judged = [point for point in points if point["performance"].get("brier") is not None]
    dates = pd.to_datetime([point["date"] for point in judged])
    # Two-line titles: on one line each they run into each other in a 1024 px window.
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"Brier, last {window} labelled sessions<br>(lower is better)",
                                                           f"AUC, last {window} labelled sessions<br>(0.5: no skill)"))
    for key, name, colour, dash in (("brier", "model", "#1f77b4", None), ("always_up_brier", "always UP", FLAT_COLOUR, "dash")):
        figure.add_trace(go.Scatter(x=dates, y=[point["performance"][key] for point in judged], name=name,
                                    mode="lines+markers", line={"color": colour, "dash": dash}, legendgroup=name,
                                    customdata=[point["performance"]["n"] for point in judged],
                                    hovertemplate=f"{name}: %{{y:.4f}} on %{{customdata}} sessions<extra></extra>"),
                         row=1, col=1)
    figure.add_trace(go.Scatter(x=dates, y=[point["performance"]["auc"] for point in judged], name="model AUC",
                                mode="lines+markers", line={"color": "#1f77b4"}, legendgroup="model", showlegend=False,
                                hovertemplate="AUC %{y:.3f}<extra></extra>"), row=1, col=2)
    figure.add_hline(y=0.5, line_dash="dash", line_color="#424242", row=1, col=2)
    figure.update_yaxes(title_text="Brier", row=1, col=1)
    figure.update_yaxes(title_text="AUC", range=[0, 1], row=1, col=2)
    figure.update_xaxes(title_text="as-of session", tickformat="%d %b %Y")
    return _layout(figure, 400, top=90).update_layout(legend={"y": 1.0, "yanchor": "top"})


def intraday(bars: list[dict], previous_close: float | None = None, index_name: str = "SENSEX") -> go.Figure:
    """The session so far: the SENSEX's 5-minute closes (bar start times, IST) and the previous
    close as a dashed line, green above it and red below."""
    times = [pd.Timestamp(b["time"]).tz_localize(None) for b in bars]  # IST wall-clock on the axis
    closes = [b["close"] for b in bars]
    last = closes[-1] if closes else None
    colour = FLAT_COLOUR if previous_close is None or last is None else (UP_COLOUR if last >= previous_close else DOWN_COLOUR)
    figure = go.Figure(go.Scatter(x=times, y=closes, mode="lines", line={"color": colour, "width": 2},
                                  name=f"{index_name} (5-minute)", hovertemplate="%{x|%H:%M} IST: %{y:,.2f}<extra></extra>"))
    if previous_close is not None:
        figure.add_hline(y=previous_close, line_dash="dash", line_color="#424242",
                         annotation_text=f"previous close {previous_close:,.2f}", annotation_position="bottom right")
    figure.update_xaxes(tickformat="%H:%M", title_text="IST")
    figure.update_yaxes(tickformat=",.0f")
    return _layout(figure, 320, showlegend=False)
