"""The verdict per operation from comparison records: a terminal table, JSON or one self-contained page."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from typing import Any

from bridge.durations import parse_duration
from bridge.migrate.compare import general_path

SIDES = ("legacy", "rest")
# Ready to switch: at least 99.9% (as per mille, to stay exact) of 1,000 comparisons over a day.
READY_PER_MILLE = 999
READY_COMPARED = 1000
READY_SPAN = 86400.0
TOP_DIFFERENCES = 10
HOUR = 3600.0
DAY = 86400.0
# Hourly points beyond a week make a chart nobody can read; days it is then.
HOURLY_UNTIL = 7 * DAY

# A cell that reads as a number ("1,024", "12.5 ms", "270 (90.0%)") aligns right.
_NUMBER = re.compile(r"^-?[\d,.]+(%| ms)?( \(.*\))?$")

# (bucket start, compared, agreed, legacy p50, rest p50)
Bucket = tuple[float, int, int, float | None, float | None]


@dataclass(frozen=True)
class OperationSummary:
    """What the comparisons of one operation add up to."""

    operation: str
    compared: int
    agreed: int
    agreement: float
    dropped: int
    fallbacks: int
    top_differences: list[tuple[str, int]]
    latency: dict[str, dict[str, float | None]]
    errors: dict[str, dict[str, int]]
    cohorts: dict[str, tuple[int, int]]
    first_ts: float | None
    last_ts: float | None
    series: list[Bucket]
    verdict: str = ""

    @property
    def span(self) -> float:
        """Seconds from the first comparison to the last: how long the evidence was gathered."""
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return self.last_ts - self.first_ts


def summarise(
    records: Iterable[Mapping[str, Any]], drops: Mapping[str, int], fallbacks: Mapping[str, int], now: float
) -> list[OperationSummary]:
    """One summary per operation seen in records, drops or fallbacks, sorted by operation."""
    by_operation: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_operation.setdefault(str(record["operation"]), []).append(record)
    operations = set(by_operation)
    operations.update(operation for operation, count in drops.items() if count)
    operations.update(operation for operation, count in fallbacks.items() if count)
    return [
        _summary(operation, by_operation.get(operation, []), drops.get(operation, 0),
                 fallbacks.get(operation, 0), now)
        for operation in sorted(operations)
    ]


def _summary(
    operation: str, records: list[Mapping[str, Any]], dropped: int, fallbacks: int, now: float
) -> OperationSummary:
    compared = len(records)
    agreed = sum(1 for record in records if _agreed(record))
    differences: Counter[str] = Counter()
    for record in records:
        # A comparison counts once per general path, however many accounts differ there.
        differences.update({general_path(str(item["path"])) for item in record.get("differences") or []})
    cohorts: dict[str, tuple[int, int]] = {}
    for record in records:
        cohort = record.get("cohort")
        if cohort is not None:
            seen, same = cohorts.get(str(cohort), (0, 0))
            cohorts[str(cohort)] = (seen + 1, same + _agreed(record))
    times = [float(record["ts"]) for record in records]
    summary = OperationSummary(
        operation=operation,
        compared=compared,
        agreed=agreed,
        agreement=100.0 * agreed / compared if compared else 0.0,
        dropped=int(dropped),
        fallbacks=int(fallbacks),
        top_differences=sorted(differences.items(), key=lambda item: (-item[1], item[0]))[:TOP_DIFFERENCES],
        latency={
            side: {"p50": percentile(_ms(records, side), 50), "p95": percentile(_ms(records, side), 95)}
            for side in SIDES
        },
        errors={side: _errors(records, side) for side in SIDES},
        cohorts=dict(sorted(cohorts.items())),
        first_ts=min(times) if times else None,
        last_ts=max(times) if times else None,
        series=series(records, now),
    )
    return replace(summary, verdict=verdict(summary))


def _agreed(record: Mapping[str, Any]) -> bool:
    return record.get("outcome") == "agree"


def _ms(records: Iterable[Mapping[str, Any]], side: str) -> list[float]:
    return [float(value) for record in records if (value := record.get(f"{side}_ms")) is not None]


def _errors(records: Iterable[Mapping[str, Any]], side: str) -> dict[str, int]:
    counts = Counter(str(error) for record in records if (error := record.get(f"{side}_error")))
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def percentile(values: Sequence[float], percent: int) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `percent`% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def series(records: Sequence[Mapping[str, Any]], now: float, size: float | None = None
           ) -> list[Bucket]:
    """Buckets from the first comparison up to now, empty ones included so a chart shows when
    they stopped: hours (days past a week) unless `size` (seconds) says otherwise."""
    if not records:
        return []
    first = min(float(record["ts"]) for record in records)
    end = max([now, *(float(record["ts"]) for record in records)])
    if size is None:
        size = DAY if end - first > HOURLY_UNTIL else HOUR
    grouped: dict[float, list[Mapping[str, Any]]] = {}
    for record in records:
        grouped.setdefault(math.floor(float(record["ts"]) / size) * size, []).append(record)
    series: list[Bucket] = []
    start = math.floor(first / size) * size
    while start <= end:
        bucket = grouped.get(start, [])
        series.append((
            start,
            len(bucket),
            sum(1 for record in bucket if _agreed(record)),
            percentile(_ms(bucket, "legacy"), 50),
            percentile(_ms(bucket, "rest"), 50),
        ))
        start += size
    return series


def verdict(summary: OperationSummary) -> str:
    """One line: is this operation ready to switch to rest, and if not, why."""
    operation = summary.operation
    if summary.compared == 0:
        return f"{operation}: nothing compared yet — run it in shadow or verify mode"
    head = (
        f"{operation}: {_percent(summary.agreed, summary.compared)} of {summary.compared:,} agree"
        f" over {humane_duration(summary.span)}"
    )
    if not _high(summary.agreed, summary.compared):
        return f"{head} — not ready: {_main_problem(summary)}"
    if not ready(summary):
        return f"{head} — not ready: too few comparisons (needs {READY_COMPARED:,} over a day)"
    # A cohort is named only when its own comparisons would pass the bar on their own.
    agreeing = [(-seen, cohort) for cohort, (seen, same) in summary.cohorts.items()
                if _high(same, seen) and seen >= READY_COMPARED]
    if agreeing:
        # The cohort with most comparisons; on a tie the first in alphabetical order.
        cohort = min(agreeing)[1]
        return f"{head} — ready to switch cohort '{cohort}' to rest"
    return f"{head} — ready to switch to rest"


def ready(summary: OperationSummary) -> bool:
    """Enough agreement, volume and time to switch to rest."""
    return (
        _high(summary.agreed, summary.compared)
        and summary.compared >= READY_COMPARED
        and summary.span >= READY_SPAN
    )


def _high(agreed: int, compared: int) -> bool:
    return compared > 0 and agreed * 1000 >= compared * READY_PER_MILLE


def _percent_label(value: float) -> str:
    return f"{math.floor(value * 10) / 10:.1f}%"


def _percent(agreed: int, compared: int) -> str:
    # Rounded down: 99.86% must not read as the 99.9% that means "ready".
    tenths = agreed * 1000 // compared
    return f"{tenths // 10}.{tenths % 10}%"


def _main_problem(summary: OperationSummary) -> str:
    if summary.top_differences:
        path, count = summary.top_differences[0]
        return f"top difference {path} ({count:,})"
    errors = [(count, side, text) for side in SIDES for text, count in summary.errors[side].items()]
    if errors:
        count, side, text = sorted(errors, key=lambda item: (-item[0], item[1], item[2]))[0]
        return f"top error on {side}: {text} ({count:,})"
    return f"{summary.compared - summary.agreed:,} differ"


def humane_duration(seconds: float) -> str:
    """`3 days`, `5 hours`, `12 minutes`, `40 seconds`: the largest whole unit, rounded down."""
    for unit, size in (("day", DAY), ("hour", HOUR), ("minute", 60.0), ("second", 1.0)):
        if seconds >= size or unit == "second":
            count = int(seconds // size)
            return f"{count:,} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")


def parse_since(text: str, now: float) -> float:
    """A timestamp from an age (`3d`, `12h`, `30m`, `90s`) or an ISO date/datetime (UTC unless it says)."""
    stripped = text.strip()
    problem = (
        f"since {text!r}: expected an age like 3d, 12h, 30m, 90s"
        " or an ISO date or datetime like 2026-11-20 or 2026-11-20T10:00:00Z"
    )
    if stripped[-1:] in ("d", "h", "m", "s"):
        try:
            return now - parse_duration(stripped)
        except ValueError:
            raise ValueError(problem) from None
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(problem) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment.timestamp()
    if since > now:
        raise ValueError(f"since {text!r} is in the future")
    return since


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ms_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _overview(summary: OperationSummary) -> list[tuple[str, str]]:
    """The headline numbers, shared by the table and the HTML page."""
    agreed = f"{summary.agreed:,}"
    if summary.compared:
        agreed += f" ({_percent(summary.agreed, summary.compared)})"
    period = "-"
    if summary.first_ts is not None:
        period = f"{_when(summary.first_ts)} to {_when(summary.last_ts)} ({humane_duration(summary.span)})"
    return [
        ("compared", f"{summary.compared:,}"),
        ("agreed", agreed),
        ("dropped", f"{summary.dropped:,}"),
        ("fallbacks", f"{summary.fallbacks:,}"),
        ("period", period),
    ]


def _sections(summary: OperationSummary) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the detail tables, shared by the table and the HTML page."""
    latency = [[side, _ms_text(summary.latency[side]["p50"]), _ms_text(summary.latency[side]["p95"])]
               for side in SIDES]
    differences = [[path, f"{count:,}"] for path, count in summary.top_differences]
    errors = [[side, text, f"{count:,}"] for side in SIDES for text, count in summary.errors[side].items()]
    cohorts = [[name, f"{seen:,}", f"{same:,}", _percent(same, seen)]
               for name, (seen, same) in summary.cohorts.items()]
    return [
        ("latency", ["side", "p50", "p95"], latency),
        ("top differences", ["path", "comparisons"], differences),
        ("errors", ["side", "error", "count"], errors),
        ("cohorts", ["cohort", "compared", "agreed", "agreement"], cohorts),
    ]


def _series_rows(summary: OperationSummary) -> list[list[str]]:
    return [
        [_when(start), f"{seen:,}", f"{same:,}", _percent(same, seen), _ms_text(legacy), _ms_text(rest)]
        for start, seen, same, legacy, rest in summary.series
        if seen
    ]


_NOTHING = "Nothing compared in this period — run an operation in shadow or verify mode."
_SERIES_HEADER = ["from", "compared", "agreed", "agreement", "legacy p50", "rest p50"]


def render_table(summaries: Sequence[OperationSummary], since_label: str) -> str:
    """Plain text for a terminal: one block per operation, columns aligned, the verdict last."""
    lines = [f"Migration report since {since_label}"]
    if not summaries:
        lines += ["", _NOTHING]
    for summary in summaries:
        lines += ["", summary.operation]
        lines += _aligned([[label, value] for label, value in _overview(summary)], indent="  ", header=False)
        for title, header, rows in _sections(summary):
            if rows:
                lines += ["", f"  {title}"]
                lines += _aligned([header, *rows], indent="    ")
        lines += ["", f"  {summary.verdict}"]
    return "\n".join(lines) + "\n"


def _aligned(rows: list[list[str]], indent: str, header: bool = True) -> list[str]:
    body = rows[1:] if header else rows
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    numeric = [
        column > 0 and all(_NUMBER.match(row[column]) or row[column] == "-" for row in body)
        for column in range(len(widths))
    ]
    return [
        (indent + "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        )).rstrip()
        for row in rows
    ]


def render_json(summaries: Sequence[OperationSummary]) -> str:
    """Machine-readable: stable keys, times as ISO-8601 UTC."""
    operations = [
        {
            "operation": summary.operation,
            "compared": summary.compared,
            "agreed": summary.agreed,
            "agreement": summary.agreement,
            "dropped": summary.dropped,
            "fallbacks": summary.fallbacks,
            "top_differences": [{"path": path, "count": count} for path, count in summary.top_differences],
            "latency": summary.latency,
            "errors": summary.errors,
            "cohorts": {
                name: {"compared": seen, "agreed": same} for name, (seen, same) in summary.cohorts.items()
            },
            "first_ts": _iso(summary.first_ts),
            "last_ts": _iso(summary.last_ts),
            "span_seconds": summary.span,
            "series": [
                {"start": _iso(start), "compared": seen, "agreed": same,
                 "legacy_p50": legacy, "rest_p50": rest}
                for start, seen, same, legacy, rest in summary.series
            ],
            "verdict": summary.verdict,
        }
        for summary in summaries
    ]
    return json.dumps({"operations": operations}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2430; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { padding: 0.2rem 0.8rem; border-bottom: 1px solid #e3e6ec; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-weight: bold; padding: 0.6rem 0.8rem; border-left: 0.4rem solid #c0392b;
           background: #fbeeee; }
.verdict.ready { border-color: #1e8449; background: #eaf7ef; }
.meta { color: #5b6473; }
svg.chart { display: block; width: 100%; max-width: 40rem; height: auto; margin: 0.5rem 0; }
svg .axis { stroke: #8a93a3; stroke-width: 1; }
svg .grid { stroke: #e3e6ec; stroke-width: 1; }
svg text { font-size: 11px; fill: #5b6473; }
svg .line { fill: none; stroke-width: 2; }
svg .agreement { stroke: #1f6feb; fill: #1f6feb; }
svg .legacy { stroke: #8250df; fill: #8250df; }
svg .rest { stroke: #d97706; fill: #d97706; }
svg polyline.line { fill: none; }
"""

_WIDTH, _HEIGHT = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 48


def render_html(summaries: Sequence[OperationSummary], since_label: str, generated_at: float) -> str:
    """One self-contained page: inline CSS, inline SVG charts, the numbers as tables, no external links."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        "<title>soap-bridge migration report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>soap-bridge migration report</h1>",
        f'<p class="meta">Since {escape(since_label)}; generated {escape(_when(generated_at))}.</p>',
    ]
    if not summaries:
        parts.append(f'<p class="verdict">{escape(_NOTHING)}</p>')
    for index, summary in enumerate(summaries):
        parts.append(_operation_html(summary, index))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _operation_html(summary: OperationSummary, index: int) -> str:
    parts = [
        "<section>",
        f"<h2>{escape(summary.operation)}</h2>",
        f'<p class="verdict{" ready" if ready(summary) else ""}">{escape(summary.verdict)}</p>',
        _table([], [[label, value] for label, value in _overview(summary)], show_header=False),
    ]
    if summary.series:
        agreement = [(start, 100.0 * same / seen if seen else None)
                     for start, seen, same, _legacy, _rest in summary.series]
        values = [value for _start, value in agreement if value is not None]
        low = min(95.0, 5.0 * math.floor(min(values) / 5.0)) if values else 0.0
        parts.append(
            _chart(
                f"chart-{index}-agreement",
                f"{summary.operation}: agreement over time (%)",
                [("agreement", agreement)],
                low,
                100.0,
                _percent_label,
            )
        )
        latency = {
            "legacy": [(bucket[0], bucket[3]) for bucket in summary.series],
            "rest": [(bucket[0], bucket[4]) for bucket in summary.series],
        }
        highest = max([value for points in latency.values() for _start, value in points if value is not None],
                      default=0.0)
        parts.append(
            _chart(
                f"chart-{index}-latency",
                f"{summary.operation}: p50 latency over time (ms)",
                list(latency.items()),
                0.0,
                highest * 1.1 or 1.0,
                "{:,.0f} ms".format,
            )
        )
    for title, header, rows in _sections(summary):
        parts.append(f"<h3>{escape(title.capitalize())}</h3>")
        parts.append(_table(header, rows) if rows else "<p>None.</p>")
    series_rows = _series_rows(summary)
    if series_rows:
        parts.append("<h3>Over time</h3>")
        parts.append(_table(_SERIES_HEADER, series_rows))
    parts.append("</section>")
    return "\n".join(parts)


def _table(header: list[str], rows: list[list[str]], show_header: bool = True) -> str:
    parts = ["<table>"]
    if show_header:
        parts.append("<tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header) + "</tr>")
    for row in rows:
        cells = "".join(
            f'<td class="number">{escape(cell)}</td>' if _NUMBER.match(cell) else f"<td>{escape(cell)}</td>"
            for cell in row
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def _chart(
    chart_id: str,
    title: str,
    lines: list[tuple[str, list[tuple[float, float | None]]]],
    low: float,
    high: float,
    label: Callable[[float], str],
) -> str:
    """A line chart as inline SVG: one polyline per side, broken where a bucket has no data."""
    starts = [start for _name, points in lines for start, _value in points]
    first, last = min(starts), max(starts)
    width, height = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    bottom = _TOP + height

    def x(start: float) -> float:
        return _LEFT + (width * (start - first) / (last - first) if last > first else width / 2)

    def y(value: float) -> float:
        return _TOP + height * (1 - (value - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{escape(title)}</title>',
    ]
    for value in (low, (low + high) / 2, high):
        parts.append(_svg_line("grid", _LEFT, y(value), _WIDTH - _RIGHT, y(value)))
        parts.append(_svg_text(_LEFT - 6, y(value) + 4, label(value), "end"))
    parts.append(_svg_line("axis", _LEFT, _TOP, _LEFT, bottom))
    parts.append(_svg_line("axis", _LEFT, bottom, _WIDTH - _RIGHT, bottom))
    for start, anchor in ((first, "start"), (last, "end")) if last > first else ((first, "middle"),):
        parts.append(_svg_text(x(start), bottom + 16, _when(start), anchor))
    for position, (name, points) in enumerate(lines):
        for segment in _segments(points):
            coordinates = " ".join(f"{x(start):.1f},{y(value):.1f}" for start, value in segment)
            parts.append(f'<polyline class="line {name}" points="{coordinates}"/>')
            for start, value in segment:
                tip = escape(f"{name} {_when(start)}: {label(value)}")
                parts.append(
                    f'<circle class="{name}" cx="{x(start):.1f}" cy="{y(value):.1f}" r="2.5">'
                    f"<title>{tip}</title></circle>"
                )
        legend_x = _LEFT + position * 110
        parts.append(f'<rect class="{name}" x="{legend_x}" y="{_HEIGHT - 14}" width="10" height="10"/>')
        parts.append(_svg_text(legend_x + 14, _HEIGHT - 5, name, "start"))
    if not any(value is not None for _name, points in lines for _start, value in points):
        parts.append(_svg_text(_LEFT + width / 2, _TOP + height / 2, "no data", "middle"))
    parts.append("</svg>")
    return "\n".join(parts)


def _svg_line(css: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{css}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def _svg_text(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def _segments(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for start, value in points:
        if value is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((start, value))
    return [segment for segment in segments if segment]
