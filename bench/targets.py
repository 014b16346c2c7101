"""Issue #5's targets, worked out from the rows: each met or missed, with the measured value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.rows import Measure, Outcome

RSS_LIMIT_MIB = 80


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    value: str
    met: bool | None  # None: for information, or not measured


def evaluate(results: Mapping[str, Outcome], connections: int) -> list[Target]:
    def at(name: str, level: int) -> Measure | None:
        outcome = results.get(name)
        return outcome.at(level) if outcome is not None else None

    def ratio(name: str, over: str, goal: float) -> Target:
        mine, theirs = at(name, connections), at(over, connections)
        label = f"{name} / {over} throughput ({connections} connections)"
        if mine is None or theirs is None or not theirs.load.rate:
            return Target(label, f"≥ {goal:.2f}", "not measured", None)
        value = mine.load.rate / theirs.load.rate
        return Target(label, f"≥ {goal:.2f}", f"{value:.2f} ({mine.load.rate:,.0f} / "
                      f"{theirs.load.rate:,.0f} req/s)", value >= goal)

    def p50(name: str) -> float | None:
        measure = at(name, 1)
        return measure.load.p50_us / 1000 if measure is not None else None

    checks = [ratio("bridge-cold", "spyne", 1.3), ratio("bridge-warm", "floor", 0.40)]

    cold, api_user, accounts = p50("bridge-cold"), p50("upstream-apiuser"), p50("upstream-accounts")
    label = "added latency at p50, 1 connection: bridge-cold - (apiUser + accounts direct)"
    if cold is None or api_user is None or accounts is None:
        checks.append(Target(label, "≤ 0.50 ms", "not measured", None))
    else:
        added = cold - (api_user + accounts)
        checks.append(Target(label, "≤ 0.50 ms", f"{added:.2f} ms ({cold:.2f} - ({api_user:.2f} + "
                             f"{accounts:.2f}))", added <= 0.5))
    warm, floor = p50("bridge-warm"), p50("floor")
    if warm is not None and floor is not None:
        checks.append(Target("for information: bridge-warm p50 - floor p50, 1 connection", "—",
                             f"{warm - floor:.2f} ms ({warm:.2f} - {floor:.2f})", None))

    warm_rows = [o for o in results.values() if o.row.kind == "bridge" and not o.row.cold
                 and o.measures]
    checks.append(worst(
        "upstream calls per login, warm path", "≤ 0.01", warm_rows,
        lambda o: max(m.calls_per_login for m in o.measures.values()), lambda v: f"{v:.3f}",
        lambda v: v <= 0.01))
    bridges = [o for o in results.values() if o.row.kind == "bridge" and o.startup is not None]
    checks.append(worst("start-up of the bridge (spawn to first successful login)", "≤ 1.0 s",
                        bridges, lambda o: o.startup or 0.0, lambda v: f"{v:.2f} s",
                        lambda v: v <= 1.0))
    checks.append(worst("peak RSS per bridge worker (VmHWM)", f"≤ {RSS_LIMIT_MIB} MiB",
                        [o for o in bridges if o.peak_rss_kib],
                        lambda o: (o.peak_rss_kib or 0) / 1024, lambda v: f"{v:.1f} MiB",
                        lambda v: v <= RSS_LIMIT_MIB))
    return checks


def worst(name: str, goal: str, outcomes: list[Outcome], value: Callable[[Outcome], float],
          shown: Callable[[float], str], good: Callable[[float], bool]) -> Target:
    """The target over several rows: the worst row decides."""
    if not outcomes:
        return Target(name, goal, "not measured", None)
    chosen = max(outcomes, key=value)
    measured = value(chosen)
    return Target(name, goal, f"{shown(measured)} (worst: {chosen.row.name})", good(measured))
