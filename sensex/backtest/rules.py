"""Trading rules: from each session's forecast to a target weight in [-1, 1] of the account.

A rule reads only what the forecast of session t says (P(UP), the no-call flag and, for sizing,
the expected move of session t + 1), never a price: its decision at t cannot move when later
prices do. Names, `--rule`:

  long_flat           long when P(UP) >= 0.5, else flat (the default)
  long_short          long when P(UP) >= 0.5, else short
  threshold:X         long when P(UP) >= X (0.5 < X < 1), else flat
  skip_no_call        long_flat, flat on sessions whose interval straddles 0.5 (no call)
  vol_target[:V]      long_flat sized to V annualised volatility (default 0.15) by the range
                      forecast's expected move, capped at 1x
Modifiers join with `+`: `long_short+skip_no_call`, `threshold:0.55+vol_target:0.10`.

The expected move is the range forecast's (`sensex.models.range_portable`): the expected absolute
close-to-close move of session t + 1, as a fraction (its `pct` / 100). Volatility targeting needs
a standard deviation: sigma = E|r| sqrt(pi / 2), a normal law's ratio, so the weight is
(V / sqrt(252)) / sigma, at most 1x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensex.core.errors import ConfigError

BASES = ("long_flat", "long_short", "threshold")
MODIFIERS = ("skip_no_call", "vol_target")
DEFAULT_RULE = "long_flat"
DEFAULT_VOL_TARGET = 0.15
MAX_LEVERAGE = 1.0
ABS_TO_SD = float(np.sqrt(np.pi / 2))  # sigma / E|r| under a normal law
TRADING_DAYS = 252
RULES_HELP = ("long_flat, long_short, threshold:X (0.5 < X < 1), skip_no_call, vol_target[:V] (0 < V <= 1),"
              " or a base joined with modifiers by '+' (e.g. long_short+skip_no_call)")


@dataclass(frozen=True)
class Rule:
    name: str  # canonical, e.g. "long_short+skip_no_call"
    base: str
    threshold: float = 0.5
    skip_no_call: bool = False
    vol_target: float | None = None  # annualised; None: no sizing

    @property
    def shorts(self) -> bool:
        return self.base == "long_short"

    def describe(self) -> str:
        text = {"long_flat": "long when P(UP) >= 0.5, else flat", "long_short": "long when P(UP) >= 0.5, else short",
                "threshold": f"long when P(UP) >= {self.threshold:g}, else flat"}[self.base]
        if self.skip_no_call:
            text += "; flat on no-call sessions"
        if self.vol_target is not None:
            text += f"; sized to {self.vol_target:.0%} annualised volatility by the expected move (at most {MAX_LEVERAGE:g}x)"
        return text

    def weights(self, probability: np.ndarray, no_call: np.ndarray | None = None,
                expected_move: np.ndarray | None = None) -> np.ndarray:
        """Target weight of each session, from its forecast alone."""
        p = np.asarray(probability, dtype=np.float64)
        if not np.isfinite(p).all():
            raise ConfigError("Some forecasts have no P(UP) (NaN): rerun the walk-forward that stored them.")
        if self.base == "long_short":
            w = np.where(p >= 0.5, 1.0, -1.0)
        else:
            w = (p >= self.threshold).astype(np.float64)
        if self.skip_no_call:
            if no_call is None:
                raise ConfigError(f"Rule {self.name} skips no-call sessions, and these forecasts carry no no-call flag:"
                                  " rerun the walk-forward (or use a registered version) to store them.")
            w = np.where(np.asarray(no_call, dtype=bool), 0.0, w)
        if self.vol_target is not None:
            move = None if expected_move is None else np.asarray(expected_move, dtype=np.float64)
            if move is None or not np.isfinite(move).any():
                raise ConfigError(f"Rule {self.name} sizes positions by the range forecast's expected move, and none is"
                                  " available for these sessions: choose a rule without vol_target.")
            if not (np.isfinite(move) & (move > 0)).all():
                raise ConfigError(f"Rule {self.name} needs an expected move above 0 for every session, and"
                                  f" {int((~(np.isfinite(move) & (move > 0))).sum())} sessions lack one: choose a"
                                  " rule without vol_target or a window the range forecast covers.")
            daily_target = self.vol_target / np.sqrt(TRADING_DAYS)
            w = w * np.minimum(daily_target / (move * ABS_TO_SD), MAX_LEVERAGE)
        return w


def _number(text: str, what: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"Unknown rule {name!r}: {what} {text!r} is not a number; use {RULES_HELP}.") from None
    return value


def parse_rule(name: str | None) -> Rule:
    """The rule a `--rule` name means; an unknown name is one sentence listing the rules."""
    name = (name or DEFAULT_RULE).strip().lower()
    parts = [part.strip() for part in name.split("+")]
    head, _, argument = parts[0].partition(":")
    base, threshold, skip, target = head, 0.5, False, None
    if head in MODIFIERS:  # a modifier alone rides on long_flat
        base, argument, parts = "long_flat", "", ["long_flat", *parts]
    elif head not in BASES:
        raise ConfigError(f"Unknown rule {name!r}: use {RULES_HELP}.")
    if base == "threshold":
        if not argument:
            raise ConfigError(f"Rule {name!r} needs its threshold: write threshold:X with 0.5 < X < 1, e.g. threshold:0.55.")
        threshold = _number(argument, "threshold", name)
        if not 0.5 < threshold < 1:
            raise ConfigError(f"Rule {name!r}: the threshold must lie between 0.5 and 1 (exclusive), not {threshold:g}.")
    elif argument:
        raise ConfigError(f"Unknown rule {name!r}: {base} takes no argument; use {RULES_HELP}.")
    for part in parts[1:]:
        modifier, _, argument = part.partition(":")
        if modifier == "skip_no_call" and not argument and not skip:
            skip = True
        elif modifier == "vol_target" and target is None:
            target = _number(argument, "volatility target", name) if argument else DEFAULT_VOL_TARGET
            if not 0 < target <= 1:
                raise ConfigError(f"Rule {name!r}: the volatility target is annualised, between 0 and 1 (e.g."
                                  f" vol_target:0.15), not {target:g}.")
        else:
            raise ConfigError(f"Unknown rule {name!r}: {part!r} is not a modifier; use {RULES_HELP}.")
    canonical = (f"threshold:{threshold:g}" if base == "threshold" else base) + ("+skip_no_call" if skip else "") \
        + (f"+vol_target:{target:g}" if target is not None else "")
    return Rule(canonical, base, threshold, skip, target)
