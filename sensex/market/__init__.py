"""Facts about the market, not about any data set: universes and their members, forecast modes,
exchange calendars and sessions, the market clock, context series (the S&P 500), dates users
type, and the canonical OHLCV schema."""
