"""Issue #14's targets, worked out from the rows of one run: each met or missed, with the values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.rows import GRANIAN, GTHREAD, Measure, Outcome

RSS_LIMIT_MIB = 60
CPU_LIMIT_US = 150


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

    def throughput(name: str, over: str, goal: float | None) -> Target:
        mine, theirs = at(name, connections), at(over, connections)
        label = f"{name} / {over} throughput ({connections} connections)"
        shown = "—" if goal is None else f"≥ {goal:.2f}"
        if mine is None or theirs is None or not theirs.load.rate:
            return Target(label, shown, "not measured", None)
        value = mine.load.rate / theirs.load.rate
        return Target(label, shown, f"{value:.2f} ({mine.load.rate:,.0f} / "
                      f"{theirs.load.rate:,.0f} req/s)", None if goal is None else value >= goal)

    def cpu(name: str, goal: float | None) -> Target:
        measure = at(name, connections)
        label = f"{name}: server CPU per login ({connections} connections)"
        shown = "—" if goal is None else f"≤ {goal:.0f} µs"
        value = measure.per_request_us(measure.server_cpu) if measure is not None else None
        if value is None:
            return Target(label, shown, "not measured", None)
        return Target(label, shown, f"{value:,.0f} µs", None if goal is None else value <= goal)

    def p50(name: str) -> float | None:
        measure = at(name, 1)
        return measure.load.p50_us / 1000 if measure is not None else None

    def latency(name: str, floor: str, goal: float) -> Target:
        mine, theirs = p50(name), p50(floor)
        label = f"{name} p50 / {floor} p50 (1 connection, same server)"
        if mine is None or theirs is None or not theirs:
            return Target(label, f"≤ {goal:.1f}", "not measured", None)
        value = mine / theirs
        return Target(label, f"≤ {goal:.1f}", f"{value:.2f} ({mine:.2f} / {theirs:.2f} ms)",
                      value <= goal)

    checks = [
        throughput("bridge-warm", "spyne-bare", 3.0),
        throughput("bridge-warm-granian", "spyne-bare", None),
        cpu("bridge-warm", CPU_LIMIT_US),
        cpu("bridge-warm-granian", None),
        latency("bridge-warm", "floor", 2.5),
        latency("bridge-warm-granian", "floor-granian", 2.5),
    ]

    cold, api_user, accounts = p50("bridge-cold"), p50("upstream-apiuser"), p50("upstream-accounts")
    label = "added p50, 1 connection: bridge-cold - (apiUser + accounts direct)"
    if cold is None or api_user is None or accounts is None:
        checks.append(Target(label, "≤ 0.30 ms", "not measured", None))
    else:
        added = cold - (api_user + accounts)
        checks.append(Target(label, "≤ 0.30 ms", f"{added:.2f} ms ({cold:.2f} - ({api_user:.2f} + "
                             f"{accounts:.2f}))", added <= 0.3))
    checks += [
        throughput("bridge-warm-redis", "bridge-warm", 0.8),
        throughput(f"bridge-warm-{_more_workers(results)}w", "bridge-warm", 1.0),
        throughput("bridge-warm-granian", "bridge-warm", None),
        throughput("floor-granian", "floor", None),
        throughput("bridge-cold", "spyne", None),
    ]

    warm_rows = [o for o in results.values() if o.row.kind == "bridge" and not o.row.cold
                 and o.measures]
    checks.append(worst(
        "upstream calls per login, warm path", "0 (≤ 0.01: wrk stops with requests in flight)",
        warm_rows, lambda o: max(m.calls_per_login for m in o.measures.values()),
        lambda v: f"{v:.3f}", lambda v: v <= 0.01))
    for server in (GTHREAD, GRANIAN):
        bridges = [o for o in results.values() if o.row.kind == "bridge"
                   and o.row.server == server and o.startup is not None]
        checks.append(worst(f"start-up of the bridge under {server} (spawn to first successful "
                            "login)", "≤ 1.0 s", bridges, lambda o: o.startup or 0.0,
                            lambda v: f"{v:.2f} s", lambda v: v <= 1.0))
        checks.append(worst(f"peak RSS per bridge worker under {server} (VmHWM)",
                            f"≤ {RSS_LIMIT_MIB} MiB", [o for o in bridges if o.peak_rss_kib],
                            lambda o: (o.peak_rss_kib or 0) / 1024, lambda v: f"{v:.1f} MiB",
                            lambda v: v <= RSS_LIMIT_MIB))
    return checks


def _more_workers(results: Mapping[str, Outcome]) -> int:
    """The worker count of the bridge-warm-<N>w row (twice --workers)."""
    warm = results.get("bridge-warm")
    return warm.row.workers * 2 if warm is not None else 4


def worst(name: str, goal: str, outcomes: list[Outcome], value: Callable[[Outcome], float],
          shown: Callable[[float], str], good: Callable[[float], bool]) -> Target:
    """The target over several rows: the worst row decides."""
    if not outcomes:
        return Target(name, goal, "not measured", None)
    chosen = max(outcomes, key=value)
    measured = value(chosen)
    return Target(name, goal, f"{shown(measured)} (worst: {chosen.row.name})", good(measured))
