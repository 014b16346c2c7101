"""What the console shows of one operation, as plain JSON-able data: the report's summary and
verdict (bridge/migrate/report.py), the mode of each cohort, finer buckets over time, and each
differing path with how often, since when, for which cohorts and a few sample pairs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bridge.migrate.compare import general_path
from bridge.migrate.marks import NOISE, effective_noise
from bridge.migrate.plan import Plan
from bridge.migrate.records import History
from bridge.migrate.report import SIDES, OperationSummary, ready, series, summarise, verdict
from bridge.migrate.routing import OperationRoute

SAMPLES = 5
# The page lists at most this many differing paths and as many noise paths (the commonest
# first; the JSON says how many more there were): a page and its JSON stay small whatever
# a broken mapping makes differ.
MAX_PATHS = 50
# The charts get about this many points, whatever the window.
POINTS = 60
_NICE = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def bucket_size(first: float, now: float) -> float:
    """A round bucket length that gives the chart about POINTS points."""
    wanted = max(now - first, 1.0) / POINTS
    return float(next((size for size in _NICE if size >= wanted), _NICE[-1]))


def operations(plan: Plan, history: History) -> list[str]:
    """Every operation worth a page: those with a rule (not local) and those with records."""
    names = {name for name, rule in plan.rules.items() if not rule.local and rule.lookup is None}
    names.update(str(record["operation"]) for record in history.records)
    names.update(history.drops)
    names.update(history.fallbacks)
    return sorted(names)


def modes(plan: Plan, operation: str, overlay: Mapping[str, Any] | None = None
          ) -> list[dict[str, Any]]:
    """One row per cohort (and the operation's own mode, cohort None): the configured mode and
    the mode in force, which an overlay entry (`cohort or "*"` -> {"mode", …}) may change."""
    route = plan.routing.operations.get(operation) or OperationRoute(operation,
                                                                     plan.routing.default)
    overlay = overlay or {}
    rows: list[dict[str, Any]] = [{"cohort": None, "who": "everyone else",
                                   "configured": route.mode}]
    for cohort in route.cohorts:
        who = [f"{len(cohort.users)} listed user{'s' if len(cohort.users) != 1 else ''}"
               if cohort.users else "",
               ", ".join(f"@{domain}" for domain in sorted(cohort.domains)),
               f"{cohort.percent:g}% of users" if cohort.percent is not None else ""]
        rows.append({"cohort": cohort.name, "who": "; ".join(part for part in who if part),
                     "configured": cohort.mode})
    for row in rows:
        entry = overlay.get(row["cohort"] or "*")
        row["mode"] = entry["mode"] if isinstance(entry, dict) else row["configured"]
        row["overridden"] = isinstance(entry, dict)
        row["since"] = iso(entry.get("ts")) if isinstance(entry, dict) else None
        row["by"] = entry.get("by") if isinstance(entry, dict) else None
        # After an automatic fall-back the rules promote no further until an operator acts.
        row["hold"] = bool(entry.get("hold")) if isinstance(entry, dict) else False
    return rows


def operation_figures(operation: str, plan: Plan, history: History, now: float,
                      learned: Sequence[str], marks: Mapping[str, Any],
                      overlay: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the operation's page shows, from the records of the window in `history`."""
    records = [record for record in history.records if record["operation"] == operation]
    summary = _summary(operation, records, history, now)
    first = summary.first_ts or now
    size = bucket_size(first, now)
    ignored = effective_noise(list(learned), dict(marks))
    differences, noise = _paths(records, ignored, marks)
    shown_differences, shown_noise = differences[:MAX_PATHS], noise[:MAX_PATHS]
    return {
        "operation": operation,
        "verdict": summary.verdict,
        "ready": ready(summary),
        "compared": summary.compared,
        "agreed": summary.agreed,
        # Rounded down, as the report's are: never up to the 99.9% that means ready.
        "agreement": math.floor(summary.agreement * 100) / 100 if summary.compared else None,
        "dropped": summary.dropped,
        "fallbacks": summary.fallbacks,
        "first": iso(summary.first_ts),
        "last": iso(summary.last_ts),
        "latency": summary.latency,
        "errors": summary.errors,
        "cohorts": {name: {"compared": seen, "agreed": same}
                    for name, (seen, same) in summary.cohorts.items()},
        "modes": modes(plan, operation, overlay),
        "bucket_seconds": size,
        "series": [{"start": start, "compared": seen, "agreed": same, "legacy_p50": legacy,
                    "rest_p50": rest}
                   for start, seen, same, legacy, rest in series(records, now, size)],
        "differences": shown_differences,
        "differences_left_off": len(differences) - len(shown_differences),
        "noise": shown_noise,
        "noise_left_off": len(noise) - len(shown_noise),
    }


def _summary(operation: str, records: Sequence[Mapping[str, Any]], history: History,
             now: float) -> OperationSummary:
    found = summarise(records, {operation: history.drops.get(operation, 0)},
                      {operation: history.fallbacks.get(operation, 0)}, now)
    if found:
        return found[0]
    empty = OperationSummary(
        operation=operation, compared=0, agreed=0, agreement=0.0, dropped=0, fallbacks=0,
        top_differences=[], latency={side: {"p50": None, "p95": None} for side in SIDES},
        errors={side: {} for side in SIDES}, cohorts={}, first_ts=None, last_ts=None,
        series=[])
    return replace(empty, verdict=verdict(empty))


def _paths(records: Sequence[Mapping[str, Any]], ignored: frozenset[str],
           marks: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Differing general paths, commonest first, and the noise paths apart."""
    seen: dict[str, dict[str, Any]] = {}
    compared = len(records)
    for record in records:
        by_path: dict[str, list[Mapping[str, Any]]] = {}
        for item in record.get("differences") or []:
            by_path.setdefault(general_path(str(item["path"])), []).append(item)
        for general, items in by_path.items():
            path = seen.setdefault(general, {"path": general, "count": 0, "first": None,
                                             "last": None, "cohorts": Counter(),
                                             "samples": []})
            ts = float(record["ts"])
            path["count"] += 1
            path["first"] = ts if path["first"] is None else min(path["first"], ts)
            path["last"] = ts if path["last"] is None else max(path["last"], ts)
            path["cohorts"][record.get("cohort") or "-"] += 1
            # Records come oldest first: the list keeps the latest few.
            path["samples"].extend({"ts": iso(ts), "path": str(item["path"]),
                                    "legacy": item.get("legacy"), "rest": item.get("rest"),
                                    "item": item.get("item"),
                                    "user": record.get("user"), "cohort": record.get("cohort"),
                                    "mode": record.get("mode")} for item in items[:SAMPLES])
            del path["samples"][:-SAMPLES]
    differences: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    for general, path in seen.items():
        mark = marks.get(general) if isinstance(marks.get(general), dict) else None
        path.update(first=iso(path["first"]), last=iso(path["last"]),
                    cohorts=dict(path["cohorts"].most_common()),
                    share=round(100.0 * path["count"] / compared, 2) if compared else 0.0,
                    mark=mark["kind"] if mark else None)
        path["samples"].reverse()  # newest first
        (noise if general in ignored else differences).append(path)
    for general in sorted(ignored - set(seen)):
        mark = marks.get(general)
        noise.append({"path": general, "count": 0, "first": None, "last": None, "cohorts": {},
                      "share": 0.0, "samples": [],
                      "mark": mark["kind"] if isinstance(mark, dict) else None})
    for path in noise:
        path["source"] = "operator" if path["mark"] == NOISE else "learned"
    differences.sort(key=lambda path: (-path["count"], path["path"]))
    noise.sort(key=lambda path: (-path["count"], path["path"]))
    return differences, noise


def overview(names: Sequence[str], figures: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The index page's rows: each operation's verdict and headline figures."""
    return [{"operation": name, "verdict": figure["verdict"], "ready": figure["ready"],
             "compared": figure["compared"], "agreement": figure["agreement"],
             "modes": sorted({row["mode"] for row in figure["modes"]})}
            for name, figure in zip(names, figures, strict=True)]

