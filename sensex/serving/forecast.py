"""The forecast as a type: what `ModelServer.predict` returns, `POST /predict` serves, the CLI
prints and the dashboard shows. One definition, so the keys cannot drift apart."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Forecast(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    direction: str = Field(description="UP or DOWN: the side of 50% P(UP) is on.")
    probability: float = Field(description="Calibrated P(UP), 4 decimals.")
    confidence: str = Field(description="Low, Medium or High, from |P(UP) - 0.5|.")
    risk: str
    model_version: str
    as_of: str = Field(description="The last session whose data the forecast used (YYYY-MM-DD).")
    target_date: str = Field(description="The session forecast: the next BSE session after as_of.")
    data_source: str
    synthetic: bool = Field(description="True when the prices are the built-in synthetic market, not real.")
    stale: bool = Field(description="True when the stored data ends before the last completed session.")
    note: str = Field(description="One plain sentence on how much to trust this forecast.")
    mode: str = Field("close", description="close: issued after BSE's close; preopen: before BSE opens, with the overnight S&P 500.")
    last_bse_session: str | None = Field(None, description="The last BSE session whose prices the forecast used.")
    last_sp500_session: str | None = Field(
        None, description="Pre-open mode: the last S&P 500 session (New York date) the forecast used.")
    model_kind: str | None = None
    model_test_auc: float | None = None
    model_test_accuracy: float | None = None
    latency_ms: float | None = None
    cached: bool = False
    logged: bool = Field(False, description="True once written to the prediction log; false when the log could not be"
                                            " written (read-only or full SENSEX_HOME) or was not asked for.")
