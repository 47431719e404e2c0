"""Watching the served model: drift (performance, features, live record), the track record of
logged forecasts and their outcomes, and alerts."""
