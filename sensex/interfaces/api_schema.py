"""What the REST API accepts and answers besides a Forecast: the request model, the error body,
the validators that turn a bad date or rule into a 422 sentence, and the helpers that keep every
response JSON (no NaN, no lone surrogate) and every validation error one line."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from sensex.core import cache_values as cache_shapes
from sensex.core.errors import ConfigError, DateError
from sensex.market import dates
from sensex.serving.forecast import Forecast


def _iso_date(value: str | None) -> str | None:
    """Strict YYYY-MM-DD; pydantic turns the error into a 422 whose `msg` is our sentence."""
    try:
        return dates.parse_optional(value, "as_of")
    except DateError as exc:
        raise PydanticCustomError("date", str(exc)) from None


IsoDate = Annotated[str | None, AfterValidator(_iso_date)]


def _rule(value: str) -> str:
    """A backtest rule's canonical name (`sensex.backtest.rules`); an unknown one is a 422 naming the rules."""
    from sensex.backtest.rules import parse_rule

    try:
        return parse_rule(value).name
    except ConfigError as exc:
        raise PydanticCustomError("rule", str(exc)) from None


RuleName = Annotated[str, AfterValidator(_rule)]
AS_OF_HELP = "Forecast from this stored session (YYYY-MM-DD); default: the latest."


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored

    as_of: IsoDate = Field(None, description=AS_OF_HELP, json_schema_extra={"format": "date"},
                           examples=["2021-12-15"])
    mode: Literal["close", "preopen"] = Field(
        "close", description="close: after BSE's close; preopen: before BSE opens, with the overnight S&P 500.")


class ErrorBody(BaseModel):
    """Every error response: a sentence for people, a type for programs."""

    detail: str = Field(description="One sentence: what went wrong and what to do.")
    error: str = Field(description="The error type, e.g. ModelNotFoundError or RequestValidationError.")
    errors: list[dict] | None = Field(None, description="For a 422 from validation: each field's problem (pydantic's list).")


def _is_forecast(value: object) -> bool:
    """Whether a cached value is a whole Forecast (what `/predict` must be able to serve)."""
    try:
        Forecast.model_validate(value)
    except ValidationError:
        return False
    return True


# A cached forecast that is not one (another program's entry in a shared Redis) is a miss, not a 500.
cache_shapes.expect("forecast:", _is_forecast)

NON_FINITE = "NaN and Infinity are not JSON numbers"


def json_safe(value: object, depth: int = 0) -> object:
    """`value` as JSON can carry it: NaN and infinities as text, lone surrogates escaped, depth bounded.
    (Python's JSON parser accepts NaN, Infinity and "\\ud800"; a response cannot hold them.)"""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value is None or isinstance(value, bool | int):
        return value
    if depth > 8:
        return "..."
    if isinstance(value, dict):
        return {str(json_safe(str(k))): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return json_safe(str(value), depth + 1)


def has_non_finite(value: object, depth: int = 0) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 8:
        return False
    if isinstance(value, dict):
        return any(has_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_non_finite(v, depth + 1) for v in value)
    return False


def validation_sentence(errors: list[dict]) -> str:
    """pydantic's errors as one line: `unknown field 'asof'`, `as_of: ... is not a real date`."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "the request body"
        if error.get("type") == "extra_forbidden":
            parts.append(f"unknown field {where!r} (see /docs for the fields)")
        else:
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
    if any(has_non_finite(error.get("input")) for error in errors):
        parts.append(f"{NON_FINITE} (send a date such as \"2021-12-15\" as text)")
    sentence = "Invalid request: " + "; ".join(parts) + ("" if parts and parts[-1].endswith(".") else ".")
    return str(json_safe(sentence))


def declared_errors(*statuses: int) -> dict:
    """OpenAPI `responses` for the SensexError statuses a route can return."""
    what = {400: "Bad option or configuration", 404: "The served model has no member or sector forecasts", 409: "Refused by the promotion gate", 413: "Request body too large",
            422: "Invalid request (unknown field, malformed or impossible date) or a date the stored data cannot answer for",
            503: "No production model, no stored data, or SENSEX_HOME cannot be used"}
    return {status: {"model": ErrorBody, "description": what[status]} for status in statuses}
