"""Promotion rules (`promotion:` under an operation or a cohort in `routing:`): when a cohort
moves shadow → verify → rest on its own, and when it falls back (verify → shadow, rest →
fallback). Read and checked once at load; bridge/migrate/promoter.py applies them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.durations import parse_duration
from bridge.schema import Kind, Reader, duration, flag, whole
from bridge.yamlfile import LocatedDict

# The ladders operators and rules move along (the modes of bridge/migrate/routing.py).
UP = {"legacy": "shadow", "shadow": "verify", "verify": "rest", "fallback": "rest"}
DOWN = {"rest": "fallback", "fallback": "verify", "verify": "shadow", "shadow": "legacy"}
# What a fall-back rule does: the mode a cohort goes back to from each mode it watches.
FALL_BACK = {"verify": "shadow", "rest": "fallback"}


@dataclass(frozen=True)
class Step:
    """Move up once at least `after` comparisons in the current mode, spanning at least `over`
    seconds, agree at least `agreement` percent."""

    after: int
    agreement: float
    over: float = 0.0


@dataclass(frozen=True)
class FallBack:
    """Move back when, over the last `window` seconds and with at least `min_calls` to judge
    by, agreement falls below `below` percent or REST errors exceed `rest_errors` percent."""

    window: float = 600.0
    min_calls: int = 20
    below: float | None = None
    rest_errors: float | None = None


@dataclass(frozen=True)
class Promotion:
    to_verify: Step | None = None
    to_rest: Step | None = None
    fall_back: FallBack | None = None
    # Data-changing operations are never re-routed by a rule unless this says so.
    changes_data: bool = False

    def step_from(self, mode: str) -> Step | None:
        return {"shadow": self.to_verify, "verify": self.to_rest}.get(mode)


def percent(key: str, value: Any) -> float:
    """`99.5`, `99.5%`: a share from 0 to 100."""
    text = str(value).strip().removesuffix("%") if isinstance(value, str) else value
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a percentage like 99.5 or 99.5%") from None
    if isinstance(value, bool) or not 0 <= number <= 100:
        raise ValueError(f"{key} must be a percentage from 0 to 100")
    return number


def span(key: str, value: Any) -> float:
    """A duration that may be zero (`0s`: no time condition)."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from exc
    if seconds < 0:
        raise ValueError(f"{key} must not be negative")
    return seconds


_STEP: dict[str, Kind] = {"after": whole(), "agreement": percent, "over": span}
_FALL_BACK: dict[str, Kind] = {"window": duration, "min_calls": whole(), "below": percent,
                               "rest_errors": percent}
_STEPS = ("to_verify", "to_rest")


def read_promotion(reader: Reader, parent: LocatedDict, where: str) -> Promotion | None:
    """The `promotion:` mapping under `parent` (an operation's or a cohort's), if any."""
    section = parent.get("promotion")
    if section is None:
        return None
    if not isinstance(section, LocatedDict):
        reader.problem(parent, "promotion", f"promotion{where} must be a mapping of to_verify, "
                       "to_rest, fall_back and changes_data")
        return None
    values = reader.read(section, {"changes_data": flag}, also=(*_STEPS, "fall_back"),
                         noun="promotion setting", where=where)
    steps: dict[str, Any] = {}
    for name in _STEPS:
        spec = section.get(name)
        if spec is None:
            continue
        if not isinstance(spec, LocatedDict) or not {"after", "agreement"} <= set(spec):
            reader.problem(section, name, f"promotion.{name}{where} takes {{after: N, "
                           "agreement: P%, over: T}")
            continue
        read = reader.read(spec, _STEP, noun=f"promotion.{name} setting", where=where)
        if {"after", "agreement"} <= set(read):
            steps[name] = Step(**read)
    spec = section.get("fall_back")
    if spec is not None:
        if not isinstance(spec, LocatedDict) or not {"below", "rest_errors"} & set(spec):
            reader.problem(section, "fall_back", f"promotion.fall_back{where} takes {{window: T, "
                           "min_calls: N, below: Q%, rest_errors: R%}, with below or rest_errors")
        else:
            steps["fall_back"] = FallBack(**reader.read(spec, _FALL_BACK,
                                                        noun="promotion.fall_back setting",
                                                        where=where))
    return Promotion(**steps, **values)
