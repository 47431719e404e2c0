"""RealtimeDataFetcher (the original design's name): fresh data into the store, reads from it through the TTL
cache, the data-quality report, the market overview and the index's price history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sensex.core.settings import Settings, get_settings
from sensex.data import store
from sensex.market.universe import Universe, load_universe

if TYPE_CHECKING:  # the API builds one of these at start; pandas is imported when data is read
    import pandas as pd

MOVING_AVERAGES = (50, 200)  # sessions: the chart's short and long trend lines


class RealtimeDataFetcher:
    def __init__(self, settings: Settings | None = None, universe: Universe | None = None, cache=None):
        self.settings = settings or get_settings()
        self.universe = universe or load_universe(self.settings.universe)
        self._cache = cache

    @property
    def cache(self):
        if self._cache is None:
            from sensex.core.cache import get_cache

            self._cache = get_cache(self.settings)
        return self._cache

    def _key(self, name: str) -> str:
        meta = store.read_meta(self.settings.store_dir) or {}
        return f"{name}:{meta.get('content_hash')}"

    def fetch_latest(self, source: str | None = None) -> dict:
        """Bring the store up to date from `source` (default: the settings' source)."""
        from sensex.data.ingest import update_store

        return update_store(self.settings, self.universe, source)

    def get_history(self, days: int = 60) -> pd.DataFrame:
        """The last `days` index sessions of every symbol, from the store via the history cache."""
        from sensex.core.cache import HISTORY_TTL, cached

        def load() -> pd.DataFrame:
            frame = store.read(self.settings.store_dir)
            dates = np.sort(frame.loc[frame["symbol"] == self.universe.index_symbol, "date"].unique())
            return frame[frame["date"] >= dates[-days]].reset_index(drop=True) if len(dates) else frame

        return cached(self.cache, self._key(f"history:{days}"), HISTORY_TTL, load)

    def validate_data_quality(self, data: pd.DataFrame | None = None) -> dict:
        """The data status (`sensex.data.status`) of the store, or of `data` when given."""
        from sensex.data.status import data_status  # the quality checks import the calendars: only when asked

        return data_status(self.settings, self.universe, data)

    def get_index_history(self, sessions: int = 250, averages: tuple[int, ...] = MOVING_AVERAGES) -> list[dict]:
        """The index's last `sessions` daily bars, oldest first: `date`, `open`, `high`, `low`,
        `close`, `volume` and `sma_{n}` for each n in `averages` (the mean close of the n sessions
        ending that day, computed over the full stored history, None until n sessions exist)."""
        from sensex.core.cache import HISTORY_TTL, cached

        if sessions < 1:
            raise ValueError("sessions must be at least 1")
        key = self._key(f"index_history:{sessions}:{','.join(map(str, averages))}")
        return cached(self.cache, key, HISTORY_TTL, lambda: self._index_history(sessions, averages))

    def _index_history(self, sessions: int, averages: tuple[int, ...]) -> list[dict]:
        import pandas as pd

        if not store.exists(self.settings.store_dir):
            return []
        frame = store.read(self.settings.store_dir, symbols=[self.universe.index_symbol])
        bars = frame.sort_values("date").drop_duplicates("date", keep="last").set_index("date")
        bars = bars[bars["close"] > 0]
        out = bars[["open", "high", "low", "close", "volume"]].astype(float)
        for n in averages:
            out[f"sma_{n}"] = bars["close"].rolling(n, min_periods=n).mean()
        out = out.tail(sessions)
        records = []
        for day, row in out.iterrows():
            record = {"date": str(day.date())}
            record.update({k: (None if pd.isna(v) else float(v)) for k, v in row.items()})
            records.append(record)
        return records

    def get_market_overview(self, top: int = 5) -> dict:
        """Latest SENSEX level and change, breadth, top movers and sector moves, each as of its session."""
        from sensex.core.cache import PRICE_TTL, cached

        return cached(self.cache, self._key(f"overview:{top}"), PRICE_TTL, lambda: self._overview(top))

    def _overview(self, top: int) -> dict:
        import pandas as pd

        frame = self.get_history(days=2 + 5)
        close = frame.pivot_table(index="date", columns="symbol", values="close").sort_index()
        index = close[self.universe.index_symbol].dropna()
        if len(index) < 2:
            return {"available": False}
        as_of, previous = index.index[-1], index.index[-2]
        members = [s for s in self.universe.symbols if s in close.columns]
        change = (close.loc[as_of, members] / close.loc[previous, members] - 1.0).dropna()
        movers = change.sort_values()
        # A member that rose is never a loser, however few fell: each list keeps its own sign.
        gainers, losers = movers[movers > 0][::-1][:top], movers[movers < 0][:top]
        sectors = pd.Series({s: self.universe.sector_of(s) for s in change.index})
        weights = pd.Series({m.symbol: m.weight for m in self.universe.members}).reindex(change.index)
        by_sector = (change * weights).groupby(sectors).sum() / weights.groupby(sectors).sum()
        meta = store.read_meta(self.settings.store_dir) or {}
        return {
            "available": True,
            "as_of": str(as_of.date()),
            "previous_session": str(previous.date()),
            "source": meta.get("source"),
            "synthetic": bool(meta.get("synthetic")),
            "index": {"symbol": self.universe.index_symbol, "level": float(index.iloc[-1]),
                      "change": float(index.iloc[-1] - index.iloc[-2]),
                      "change_pct": float(index.iloc[-1] / index.iloc[-2] - 1.0) * 100},
            "breadth": {"advancing": int((change > 0).sum()), "declining": int((change < 0).sum()),
                        "unchanged": int((change == 0).sum())},
            "top_gainers": [self._mover(s, v, close.loc[as_of, s]) for s, v in gainers.items()],
            "top_losers": [self._mover(s, v, close.loc[as_of, s]) for s, v in losers.items()],
            "members": [{**self._mover(s, v, close.loc[as_of, s]), "sector": self.universe.sector_of(s),
                         "weight": float(weights[s])} for s, v in change.items()],
            "sectors": [{"sector": s, "change_pct": float(v) * 100} for s, v in by_sector.sort_values(ascending=False).items()],
        }

    def _mover(self, symbol: str, change: float, close: float) -> dict:
        member = next((m for m in self.universe.members if m.symbol == symbol), None)
        return {"symbol": symbol, "name": member.name if member else symbol,
                "change_pct": float(change) * 100, "close": float(close)}
