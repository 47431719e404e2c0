"""Figures, tables and sentences of the Backtest page: plain functions of `GET /backtest`'s answer
(`sensex.backtest.report.backtest_view`), so they can be tested without Streamlit."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sensex.interfaces.app.charts import DOWN_COLOUR, FLAT_COLOUR, UP_COLOUR, _layout

LABELS = {"strategy": "strategy", "buy_and_hold": "buy and hold", "always_long": "always long (same fills)",
          "gap_not_tradable": "opening gap, NOT TRADABLE (no costs)"}
LINES = {"strategy": {"color": "#1f77b4", "width": 2}, "buy_and_hold": {"color": "#424242", "width": 1.5},
         "always_long": {"color": FLAT_COLOUR, "width": 1, "dash": "dot"},
         "gap_not_tradable": {"color": FLAT_COLOUR, "width": 1, "dash": "dash"}}
COST_KINDS = {"slippage": "slippage", "brokerage": "brokerage", "stt": "securities transaction tax",
              "exchange": "exchange charges", "sebi_fee": "SEBI fee", "stamp_duty": "stamp duty",
              "dp_charge": "depository charge", "gst": "GST"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NICE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)


# -- text ------------------------------------------------------------------------------------------
def rupees_text(value: float | None) -> str:
    """Short rupee amounts for cards: ₹1.17 cr, ₹11.7 L, ₹8,450."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1e7:
        return f"{sign}₹{value / 1e7:,.2f} cr"
    if value >= 1e5:
        return f"{sign}₹{value / 1e5:,.1f} L"
    return f"{sign}₹{value:,.0f}"


def pct_text(value: float | None, signed: bool = True) -> str:
    return "n/a" if value is None else (f"{value:+.1%}" if signed else f"{value:.1%}")


def ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def interval_text(interval: list | None, fmt=ratio_text) -> str:
    if not interval or None in interval:
        return ""
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def verdict(view: dict) -> str:
    """One plain sentence: did the rule beat holding the index (after costs), by the Sharpe
    difference and its bootstrap interval."""
    d = view["sharpe_difference"]
    index = view.get("universe_name") or "index"
    after = "with zero costs" if view.get("zero_costs") else "after costs"
    low, high = d["interval"]
    figure = f"Sharpe difference {ratio_text(d['value'])}"
    if low is None or high is None:
        return (f"Too few sessions ({view['window']['sessions']}) to judge whether {view['rule']} beat holding the"
                f" {index} {after}: {figure}, no interval.")
    figure += f" {interval_text([low, high])}"
    if low > 0:
        outcome = f"beat holding the {index} {after}"
    elif high < 0:
        outcome = f"did worse than holding the {index} {after}"
    else:
        outcome = f"did not beat holding the {index} {after}"
    return (f"{view['rule']} {outcome}: {figure} ({d['level']:.0%} block-bootstrap interval,"
            f" {view['window']['sessions']} sessions).")


def settings_lines(view: dict) -> list[str]:
    """The rule, fills, instrument, costs and forecasts the backtest used, one markdown line each."""
    source, window, instrument = view.get("source") or {}, view["window"], view["instrument"]
    costs = ("zero: every charge and the slippage at 0 (lots kept)" if view["zero_costs"] else
             f"`{Path(view['costs_file']).name}` (SHA-256 `{view['costs_sha256'][:12]}`), dated Indian charges and"
             " 2 bp slippage per fill")
    command = (f"sensex backtest --walk-forward --mode {view['mode']} --rule {view['rule']}"
               f"{' --refit-months ' + str(source['refit_months']) if source.get('refit_months') else ''}"
               f"{' --zero-costs' if view['zero_costs'] else ''}")
    return [
        f"**Rule:** `{view['rule']}`: {view['rule_description']}.",
        f"**Fills ({view['mode']} mode):** {view['fills_description']}.",
        f"**Instrument:** {instrument['name']}; account ₹{view['capital'] / 1e5:,.0f} lakh, fully in cash.",
        f"**Costs:** {costs}.",
        f"**Forecasts:** walk-forward `{source.get('model', '?')}` (preset {source.get('preset', '?')}), refit every"
        f" {source.get('refit_months', '?')} months, MLflow run `{source.get('run_id') or 'n/a'}`; file"
        f" `{source.get('file', '?')}` written {source.get('written_at') or 'n/a'}"
        f"{' (SYNTHETIC data)' if source.get('synthetic') else ''}.",
        f"**Sessions:** {window['first_session']} to {window['last_session']} (n={window['sessions']}); no-call share"
        f" {view['no_call_share']:.0%}"
        + (f"; {window['forecasts_without_prices']} forecasts without a stored session after them left out"
           if window.get("forecasts_without_prices") else "") + ".",
        f"**The same from the command line:** `{command}` (which also logs an MLflow run).",
    ]


def statistics_table(view: dict) -> pd.DataFrame:
    """Each way of trading as a column, every cell a word or a formatted number; the Sharpe ratio and
    CAGR with their 90% block-bootstrap intervals."""
    names = [n for n in ("strategy", "buy_and_hold", "always_long") if n in view]
    columns = {n: (f"strategy ({view['rule']})" if n == "strategy" else LABELS[n]) for n in names}

    def with_interval(s: dict, key: str, fmt) -> str:
        text = fmt(s.get(key))
        spread = interval_text(s.get(f"{key}_interval"), fmt)
        return f"{text} {spread}" if spread else text

    def drawdown_dates(s: dict) -> str:
        dd = s.get("max_drawdown_dates") or {}
        return f"{dd['peak']} → {dd['trough']}" if dd.get("peak") else "none"

    def recovered(s: dict) -> str:
        dd = s.get("max_drawdown_dates") or {}
        return "" if not dd.get("peak") else (dd.get("recovered") or "not yet")

    rows = {
        "CAGR [90% interval]": lambda s: with_interval(s, "cagr", pct_text),
        "annual volatility": lambda s: pct_text(s.get("annual_volatility"), signed=False),
        "Sharpe [90% interval]": lambda s: with_interval(s, "sharpe", ratio_text),
        "Sortino": lambda s: ratio_text(s.get("sortino")),
        "max drawdown": lambda s: pct_text(s.get("max_drawdown")),
        "deepest drawdown, peak → trough": drawdown_dates,
        "back at the peak on": recovered,
        "Calmar": lambda s: ratio_text(s.get("calmar")),
        "hit rate (sessions in the market)": lambda s: pct_text(s.get("hit_rate"), signed=False),
        "exposure (sessions in the market)": lambda s: pct_text(s.get("exposure"), signed=False),
        "turnover per year": lambda s: "n/a" if s.get("turnover") is None else f"{s['turnover']:.1f}x",
        "trades": lambda s: f"{s.get('trades', 0):,}",
        "costs": lambda s: rupees_text((s.get("costs") or {}).get("rupees")),
        "costs / gross profit": lambda s: pct_text((s.get("costs") or {}).get("share_of_gross_profit"), signed=False),
        "final equity": lambda s: rupees_text(s.get("final_equity")),
    }
    table = pd.DataFrame({"statistic": list(rows)})
    for name in names:
        table[columns[name]] = [cell(view[name]) for cell in rows.values()]
    gap = view.get("gap_not_tradable")
    if gap:
        table[LABELS["gap_not_tradable"]] = [cell(gap) if key in ("CAGR [90% interval]", "Sharpe [90% interval]",
                                                                  "Sortino", "max drawdown", "Calmar",
                                                                  "annual volatility") else ""
                                             for key, cell in rows.items()]
    return table


# -- figures ---------------------------------------------------------------------------------------
def log_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About `count` round values (1, 1.2, 1.5, 2, 2.5, ... x 10^k) spread over [low, high] on a log
    scale: Plotly's own ticks on a short log axis read "2, 5, 2, 5" (the digits of minor ticks)."""
    if not (low > 0 and high > 0):
        return []
    if high < low:
        low, high = high, low
    if high - low < 1e-9 * high:
        return [low]
    candidates = sorted({step * 10 ** exponent for exponent in range(math.floor(math.log10(low)) - 1,
                                                                      math.ceil(math.log10(high)) + 1)
                         for step in NICE_STEPS})
    inside = [v for v in candidates if low <= v * (1 + 1e-9) and v <= high * (1 + 1e-9)]
    if len(inside) < 4:  # a short span (97 to 125): evenly spaced round values instead
        raw = (high - low) / (count - 1)
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        first = math.ceil(low / step - 1e-9) * step
        inside = [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
        return [round(v, 12) for v in inside if v > 0]
    if len(inside) <= count:
        return [round(v, 12) for v in inside]
    # Evenly spaced in log: the candidate nearest each of `count` targets.
    targets = [math.log10(low) + (math.log10(high) - math.log10(low)) * i / (count - 1) for i in range(count)]
    chosen = sorted({min(inside, key=lambda v, t=t: abs(math.log10(v) - t)) for t in targets})
    return [round(v, 12) for v in chosen]


def tick_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


def equity_and_drawdown(view: dict) -> go.Figure:
    """The equity curves in ₹ lakh on a log axis, and each curve's drawdown from its running peak beneath."""
    curves = view["curves"]
    dates = pd.to_datetime(curves["dates"])
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    shown = [n for n in ("strategy", "buy_and_hold", "always_long", "gap_not_tradable") if n in curves]
    low, high = math.inf, 0.0
    for name in shown:
        lakh = pd.Series(curves[name], index=dates) / 1e5
        low, high = min(low, float(lakh.min())), max(high, float(lakh.max()))
        label = f"strategy ({view['rule']})" if name == "strategy" else LABELS[name]
        figure.add_trace(go.Scatter(x=dates, y=lakh, mode="lines", name=label, line=LINES[name], legendgroup=name,
                                    hovertemplate=f"{label}: ₹%{{y:,.2f}} lakh on %{{x|%Y-%m-%d}}<extra></extra>"),
                         row=1, col=1)
        if name == "gap_not_tradable":
            continue
        drawdown = (lakh / lakh.cummax() - 1) * 100
        figure.add_trace(go.Scatter(x=dates, y=drawdown, mode="lines", name=label, line=LINES[name], legendgroup=name,
                                    showlegend=False, fill="tozeroy" if name == "strategy" else None,
                                    hovertemplate=f"{label}: %{{y:.1f}}% below its peak on %{{x|%Y-%m-%d}}<extra></extra>"),
                         row=2, col=1)
    ticks = log_ticks(low, high)
    figure.update_yaxes(type="log", title_text="equity, ₹ lakh (log scale)", row=1, col=1,
                        tickvals=ticks or None, ticktext=[tick_text(v) for v in ticks] or None,
                        range=[math.log10(low) - 0.01, math.log10(high) + 0.01] if high > 0 else None)
    figure.update_yaxes(title_text="drawdown", ticksuffix="%", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(type="date", tickformat="%b %Y", row=2, col=1)
    figure.update_xaxes(type="date", row=1, col=1)
    return _layout(figure, 560)


def monthly_heatmap(monthly: list[dict], name: str = "strategy") -> go.Figure:
    """Each month's return of one curve, years down and months across, red below 0 and green above,
    buy-and-hold's return of the month in the hover."""
    frame = pd.DataFrame(monthly)
    frame["year"] = frame["month"].str[:4]
    frame["m"] = frame["month"].str[5:7].astype(int)
    years = sorted(frame["year"].unique())
    z = [[None] * 12 for _ in years]
    text = [[""] * 12 for _ in years]
    hover = [[""] * 12 for _ in years]
    for row in frame.itertuples(index=False):
        i, j = years.index(row.year), row.m - 1
        value = getattr(row, name)
        z[i][j] = value * 100
        text[i][j] = f"{value * 100:+.1f}%"
        held = getattr(row, "buy_and_hold", None)
        hover[i][j] = f"{MONTHS[j]} {row.year}: {value * 100:+.2f}%" + (
            f" (buy and hold {held * 100:+.2f}%)" if held is not None and name != "buy_and_hold" else "")
    limit = max(1.0, float(frame[name].abs().max()) * 100)
    figure = go.Figure(go.Heatmap(
        z=z, x=list(MONTHS), y=years, zmin=-limit, zmax=limit, zmid=0, text=text, texttemplate="%{text}",
        textfont={"size": 10}, customdata=hover, hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2,
        colorscale=[[0.0, DOWN_COLOUR], [0.5, "#f5f5f5"], [1.0, UP_COLOUR]],
        colorbar={"title": {"text": "return"}, "ticksuffix": "%", "thickness": 12}))
    figure.update_yaxes(type="category", autorange="reversed", title_text="year")
    figure.update_xaxes(type="category", side="top")
    return _layout(figure, max(180, 34 * len(years) + 90), top=40)


def cost_bars(view: dict) -> go.Figure:
    """What each kind of cost took from the strategy and from buy-and-hold, in rupees."""
    names = [n for n in ("strategy", "buy_and_hold") if n in view]
    kinds = [k for k in COST_KINDS if any((view[n]["costs"].get(k) or 0) > 0 for n in names)] or list(COST_KINDS)[:1]
    figure = go.Figure()
    largest = 0.0
    for name, colour in zip(names, ("#1f77b4", "#9e9e9e"), strict=False):
        values = [float(view[name]["costs"].get(k) or 0.0) for k in kinds]
        largest = max(largest, *values)
        label = f"strategy ({view['rule']})" if name == "strategy" else LABELS[name]
        figure.add_trace(go.Bar(y=[COST_KINDS[k] for k in kinds], x=values, orientation="h", name=label,
                                marker_color=colour, text=[rupees_text(v) for v in values], textposition="outside",
                                cliponaxis=False, hovertemplate=f"{label}: %{{y}} ₹%{{x:,.0f}}<extra></extra>"))
    figure.update_xaxes(title_text="rupees over the whole backtest", tickprefix="₹", tickformat=",.0f",
                        range=[0, max(largest, 1.0) * 1.2])  # room for the labels outside the bars
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, max(220, 48 * len(kinds) + 100), barmode="group")
