"""Data sources: each returns the canonical OHLCV frame of `sensex.market.schema`."""
