"""The forecast as a type: what `ModelServer.predict` returns, `POST /predict` serves, the CLI
prints and the dashboard shows. One definition, so the keys cannot drift apart."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MemberMove(BaseModel):
    """How far, never which way: a member's range forecast (`models.member_ranges`)."""

    model_config = ConfigDict(extra="forbid")

    pct: float = Field(description="The expected absolute close-to-close move of the member, in percent.")
    band_pct: float = Field(description="The move that 80% of sessions stay within, in percent (split-conformal on"
                                        " the validation window, pooled over the members).")
    level: float = Field(0.8, description="The band's coverage level.")
    note: str = Field("A range forecast says how far the member may move, never which way.")


class MemberForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str
    sector: str
    probability: float | None = Field(description="Calibrated P(member closes higher next session); null when the"
                                                  " member has no data on the last session.")
    rank: int | None = Field(description="1 = the member most likely to rise; null without data.")
    expected_move: MemberMove | None = Field(None, description="How far the member may move next session (a model"
                                             " with the members' range forecast; null for a member without data).")


class SectorForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sector: str
    probability: float = Field(description="Calibrated P(the sector's equal-weighted next-session return > 0),"
                                           " derived from its members.")
    members: list[str] = Field(description="The sector's members with data on the last session.")


class ExpectedMove(BaseModel):
    """How far, never which way: the range forecast of the target session (`models.range_portable`)."""

    model_config = ConfigDict(extra="forbid")

    pct: float = Field(description="The expected absolute close-to-close move of the target session, in percent.")
    points: float = Field(description="The same in index points, from the last close.")
    interval_pct: list[float] = Field(description="[low, high]: the 80% conformal interval of the absolute move,"
                                                  " in percent (calibrated as `calibration` says).")
    range_low: float = Field(description="Low end of the 80% band for the target session's close, in index points.")
    range_high: float = Field(description="High end of the 80% band for the target session's close, in index points.")
    level: float = Field(0.8, description="The band's and the interval's coverage level.")
    calibration: str | None = Field(None, description="Which sessions calibrated the interval and the band: the"
                                                      " model's last 250 settled sessions after its training window,"
                                                      " or its validation window while fewer than 20 are settled.")
    last_close: float | None = Field(None, description="The index close the band is drawn around (the as-of session's).")
    note: str = Field("A range forecast says how far the index may move, never which way.")


class Forecast(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    direction: str = Field(description="UP or DOWN: the side of 50% P(UP) is on.")
    probability: float = Field(description="Calibrated P(UP), 4 decimals.")
    confidence: str = Field(description="'no skill shown' unless the model showed skill out of sample; then Low"
                                        " (a no call), Medium or High (the interval clears 50%).")
    risk: str = Field(description="Low, Medium or High: the range forecast of the next session's move as a percentile"
                                  " of its forecasts over the training window (below 33rd: Low, above 67th: High);"
                                  " a model without a range forecast gives realized_risk here; see risk_basis.")
    model_version: str = Field(description="The registry version, or 'baseline:logreg' when no model passed the gate.")
    as_of: str = Field(description="The last session whose data the forecast used (YYYY-MM-DD).")
    as_of_notice: str | None = Field(None, description="Set when the as-of asked for is not a stored session (a"
                                     " weekend, a holiday): says which earlier session the forecast is from.")
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
    skill: str = Field(description="The model card's verdict: 'shown' when the test AUC's 90% interval lies above 0.5,"
                                   " P(UP) varies (sd >= 0.01 on the test window), the model called more than 10% of"
                                   " its test sessions and its test AUC is above every learned baseline's; otherwise"
                                   " 'none'.")
    skill_reasons: list[str] = Field(default_factory=list, description="Why no skill is shown, every reason (empty"
                                                                       " when skill is shown), as on the model card.")
    data_matches_model: bool | None = Field(None, description="False when the model was trained on real prices and the"
                                            " store now holds synthetic ones, or the reverse; null when unknown.")
    data_warning: str | None = Field(None, description="Set when data_matches_model is false: one sentence saying to"
                                                       " retrain.")
    model_kind: str | None = None
    model_test_auc: float | None = None
    model_test_accuracy: float | None = None
    realized_volatility: float | None = Field(None, description="Annualized 20-session realized volatility of the index.")
    realized_risk: str | None = Field(None, description="Low, Medium or High realized volatility of the index over the last"
                                                        " 20 sessions against the training window (what `risk` was before"
                                                        " the range forecast); 'unknown' without history.")
    risk_percentile: float | None = Field(None, description="The range forecast's percentile among its forecasts over the"
                                                            " training window (0-100); null without a range forecast.")
    risk_basis: str | None = None
    expected_move: ExpectedMove | None = Field(
        None, description="How far, never which way: the expected absolute move of the target session and its 80% band;"
                          " null for a model without a range forecast.")
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
