"""The forecast as a type: what `ModelServer.predict` returns, `POST /predict` serves, the CLI
prints and the dashboard shows. One definition, so the keys cannot drift apart."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MemberForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str
    sector: str
    probability: float | None = Field(description="Calibrated P(member closes higher next session); null when the"
                                                  " member has no data on the last session.")
    rank: int | None = Field(description="1 = the member most likely to rise; null without data.")


class SectorForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sector: str
    probability: float = Field(description="Calibrated P(the sector's equal-weighted next-session return > 0),"
                                           " derived from its members.")
    members: list[str] = Field(description="The sector's members with data on the last session.")


class Forecast(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    direction: str = Field(description="UP or DOWN: the side of 50% P(UP) is on.")
    probability: float = Field(description="Calibrated P(UP), 4 decimals.")
    confidence: str = Field(description="'no skill shown' unless the model showed skill out of sample; then Low"
                                        " (a no call), Medium or High (the interval clears 50%).")
    risk: str = Field(description="Low, Medium or High realized volatility of the SENSEX over the last 20 sessions"
                                  " against the model's training window ('unknown' without history); see risk_basis.")
    model_version: str = Field(description="The registry version, or 'baseline:logreg' when no model passed the gate.")
    as_of: str = Field(description="The last session whose data the forecast used (YYYY-MM-DD).")
    target_date: str = Field(description="The session forecast: the next BSE session after as_of.")
    data_source: str
    synthetic: bool = Field(description="True when the prices are the built-in synthetic market, not real.")
    stale: bool = Field(description="True when the stored data ends before the last completed session.")
    note: str = Field(description="One plain sentence on how much to trust this forecast.")
    universe: str = Field("sensex", description="The universe forecast: `sensex`, `nifty50` or a universe file's name.")
    mode: str = Field("close", description="close: issued after BSE's close; preopen: before BSE opens, with the overnight S&P 500.")
    last_bse_session: str | None = Field(None, description="The last BSE session whose prices the forecast used.")
    last_sp500_session: str | None = Field(
        None, description="Pre-open mode: the last S&P 500 session (New York date) the forecast used.")

    interval: list[float] = Field(description="[low, high] on P(UP): split-conformal at 90%, calibrated on the"
                                              " validation window (widened to the ensemble seeds' spread).")
    no_call: bool = Field(description="True when the interval reaches 0.5 from both sides: no direction is called.")
    skill: str = Field(description="'shown' when the test AUC's 90% interval lies above 0.5 and P(UP) varies"
                                   " (sd >= 0.01 on the test window); otherwise 'none'.")
    model_kind: str | None = None
    model_test_auc: float | None = None
    model_test_accuracy: float | None = None
    realized_volatility: float | None = Field(None, description="Annualized 20-session realized volatility of the index.")
    risk_basis: str | None = None
    latency_ms: float | None = None
    cached: bool = False
    issued_at: str | None = Field(None, description="When this answer was served, exchange-local ISO 8601 with the"
                                                    " offset (a cached forecast is stamped again when served).")
    clock_state: str | None = Field(None, description="BSE's market clock when served: pre_open, open, closed,"
                                                      " holiday or weekend (`sensex market`).")
    target_status: str | None = Field(None, description="The target session: upcoming, pre_open, under_way (BSE is"
                                                        " open: it targets today's close) or closed.")
    clock_note: str | None = Field(None, description="One sentence on what the market clock means for this forecast.")
    members: list[MemberForecast] | None = Field(
        None, description="Each member's next-session P(UP) and rank, when the model has member outputs (else absent).")
    sectors: list[SectorForecast] | None = Field(
        None, description="Each sector's next-session P(UP), derived from its members (else absent).")
    logged: bool = Field(False, description="True once written to the prediction log; false when the log could not be"
                                            " written (read-only or full SENSEX_HOME) or was not asked for.")
