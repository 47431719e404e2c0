"""Backtests: what trading the forecasts would have made, after costs, against just holding the index.

`costs` (the dated Indian charges in `costs.yaml`), `rules` (forecast -> target weight), `engine`
(fills by mode and the rupee accounting), `statistics` (empyrical-reloaded's figures and a
block-bootstrap Sharpe difference), `forecasts` (the walk-forward's stored out-of-sample forecasts,
a registered version's), `run` (`sensex backtest` and its MLflow run). A sibling of `serving`
in the layers: it imports the registry, models, features and data, never serving or above.
"""
