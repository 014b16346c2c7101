"""The report: counts, percentiles, series, each verdict, and the table, JSON and HTML renderings."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree, html

from bridge.migrate.report import (
    OperationSummary,
    humane_duration,
    parse_since,
    percentile,
    render_html,
    render_json,
    render_table,
    summarise,
    verdict,
)

OPERATION = "AuthenticateUser"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0
DAY = 86400.0
FIRST_NAME = "AuthenticateUserResult.FirstName"
ACCOUNT_NAME = "AuthenticateUserResult.Accounts.UserAccount[ContextIdentifier={}].Name"


def record(ts: float, outcome: str = "agree", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ts": ts,
        "operation": OPERATION,
        "mode": "shadow",
        "cohort": None,
        "user": "5e884898da28",
        "outcome": outcome,
        "differences": [],
        "legacy_ms": 10.0,
        "rest_ms": 20.0,
        "legacy_error": None,
        "rest_error": None,
    }
    base.update(changes)
    return base


def differ(ts: float, *paths: str, **changes: Any) -> dict[str, Any]:
    differences = [{"path": path, "legacy": "a", "rest": "b"} for path in paths]
    return record(ts, "differ", differences=differences, **changes)


def spread(count: int, span: float, end: float = NOW, **changes: Any) -> list[dict[str, Any]]:
    """`count` agreeing records evenly over `span` seconds ending at `end`."""
    step = span / (count - 1)
    return [record(end - span + index * step, **changes) for index in range(count)]


def only(records: list[dict[str, Any]], drops: dict[str, int] | None = None,
         fallbacks: dict[str, int] | None = None) -> OperationSummary:
    (summary,) = summarise(records, drops or {}, fallbacks or {}, NOW)
    return summary


def test_counts_drops_and_fallbacks() -> None:
    records = [record(NOW - 300), record(NOW - 200), differ(NOW - 100, FIRST_NAME)]
    summary = only(records, drops={OPERATION: 4}, fallbacks={OPERATION: 2})
    assert (summary.compared, summary.agreed) == (3, 2)
    assert summary.agreement == pytest.approx(200 / 3)
    assert (summary.dropped, summary.fallbacks) == (4, 2)
    assert (summary.first_ts, summary.last_ts) == (NOW - 300, NOW - 100)
    assert summary.span == 200


def test_operations_come_sorted_and_include_those_only_dropped() -> None:
    records = [record(NOW - 10, operation="ListUsers"), record(NOW - 5)]
    summaries = summarise(records, {"GetUser": 3, "Ignored": 0}, {"SetUser": 1}, NOW)
    operations = [summary.operation for summary in summaries]
    assert operations == ["AuthenticateUser", "GetUser", "ListUsers", "SetUser"]
    get_user = summaries[1]
    assert (get_user.compared, get_user.dropped, get_user.agreement) == (0, 3, 0.0)
    assert get_user.first_ts is None
    assert get_user.series == []


@pytest.mark.parametrize(("values", "p50", "p95"), [
    ([], None, None),
    ([7.0], 7.0, 7.0),
    ([float(value) for value in range(20, 0, -1)], 10.0, 19.0),
    ([1.0, 2.0, 3.0, 4.0], 2.0, 4.0),
    ([float(value) for value in range(1, 101)], 50.0, 95.0),
])
def test_nearest_rank_percentiles(values: list[float], p50: float | None, p95: float | None) -> None:
    assert percentile(values, 50) == p50
    assert percentile(values, 95) == p95


def test_latency_uses_only_the_values_present() -> None:
    records = [record(NOW - index, legacy_ms=float(index), rest_ms=None if index % 2 else 100.0 + index)
               for index in range(1, 21)]
    summary = only(records)
    assert summary.latency["legacy"] == {"p50": 10.0, "p95": 19.0}
    # rest: 102, 104, … 120 (ten values)
    assert summary.latency["rest"] == {"p50": 110.0, "p95": 120.0}


def test_latency_of_a_side_that_never_answered_is_none() -> None:
    summary = only([record(NOW, rest_ms=None, rest_error="unavailable")])
    assert summary.latency["rest"] == {"p50": None, "p95": None}


def test_top_differences_count_comparisons_by_general_path() -> None:
    records = [
        differ(NOW - 40, ACCOUNT_NAME.format("a"), ACCOUNT_NAME.format("b")),  # one comparison, counted once
        differ(NOW - 30, ACCOUNT_NAME.format("c")),
        differ(NOW - 20, FIRST_NAME),
        differ(NOW - 10, ACCOUNT_NAME.format("a"), FIRST_NAME),
        *(differ(NOW - 5, f"R.Field{index}") for index in range(12)),
    ]
    summary = only(records)
    assert summary.top_differences[:2] == [
        ("AuthenticateUserResult.Accounts.UserAccount.Name", 3),
        (FIRST_NAME, 2),
    ]
    assert len(summary.top_differences) == 10


def test_errors_are_counted_per_side() -> None:
    records = [
        record(NOW - 3, "differ", rest_error="unavailable"),
        record(NOW - 2, "differ", rest_error="unavailable"),
        record(NOW - 1, "differ", rest_error="timeout", legacy_error="fault: Server"),
    ]
    summary = only(records)
    assert summary.errors == {"legacy": {"fault: Server": 1}, "rest": {"unavailable": 2, "timeout": 1}}
    assert summary.verdict.endswith("not ready: top error on rest: unavailable (2)")


def test_cohorts_are_counted() -> None:
    records = [record(NOW - 3, cohort="pilot"), differ(NOW - 2, FIRST_NAME, cohort="pilot"),
               record(NOW - 1, cohort="staff"), record(NOW)]
    assert only(records).cohorts == {"pilot": (2, 1), "staff": (1, 1)}


def test_series_is_hourly_and_runs_until_now() -> None:
    start = NOW - 3 * HOUR
    records = [record(start + 60, legacy_ms=10.0), differ(start + 120, FIRST_NAME, legacy_ms=30.0),
               record(start + HOUR + 60, rest_ms=50.0)]
    series = only(records).series
    assert [bucket[0] for bucket in series] == [start, start + HOUR, start + 2 * HOUR, NOW]
    assert series[0] == (start, 2, 1, 10.0, 20.0)
    assert series[1] == (start + HOUR, 1, 1, 10.0, 50.0)
    # Buckets without comparisons stay, so the chart shows when they stopped.
    assert series[2] == (start + 2 * HOUR, 0, 0, None, None)


def test_series_is_daily_beyond_a_week() -> None:
    records = [record(NOW - 10 * DAY), record(NOW - 1)]
    series = only(records).series
    day_start = (NOW - 10 * DAY) // DAY * DAY
    assert series[0][:3] == (day_start, 1, 1)
    assert all(later[0] - earlier[0] == DAY for earlier, later in itertools.pairwise(series))
    assert sum(bucket[1] for bucket in series) == 2


def test_verdict_when_nothing_was_compared() -> None:
    summary = only([], drops={OPERATION: 5})
    assert summary.verdict == "AuthenticateUser: nothing compared yet — run it in shadow or verify mode"


def test_verdict_ready_names_the_busiest_agreeing_cohort() -> None:
    records = (
        spread(3000, 3 * DAY, cohort="pilot")
        + spread(2000, 3 * DAY, cohort="staff")
        + [differ(NOW - 10, FIRST_NAME, cohort="everyone"), record(NOW - 5, cohort="everyone")]
        + spread(118, 2 * DAY)
    )
    summary = only(records)
    assert summary.compared == 5120
    assert summary.verdict == (
        "AuthenticateUser: 99.9% of 5,120 agree over 3 days — ready to switch cohort 'pilot' to rest"
    )


def test_verdict_names_no_cohort_too_small_to_judge_on_its_own() -> None:
    records = spread(1500, 2 * DAY) + spread(40, DAY, cohort="tiny")
    assert only(records).verdict.endswith("— ready to switch to rest")


def test_verdict_ready_without_cohorts() -> None:
    records = [*spread(999, 2 * DAY), differ(NOW - 1, FIRST_NAME)]
    assert only(records).verdict == (
        "AuthenticateUser: 99.9% of 1,000 agree over 2 days — ready to switch to rest"
    )


def test_verdict_not_ready_names_the_top_difference() -> None:
    records = spread(243, 5 * HOUR + 120) + [differ(NOW - 30, FIRST_NAME)] * 7
    assert only(records).verdict == (
        "AuthenticateUser: 97.2% of 250 agree over 5 hours — not ready: top difference "
        "AuthenticateUserResult.FirstName (7)"
    )


@pytest.mark.parametrize(("count", "span", "over"), [
    (500, 3 * DAY, "3 days"),
    (5000, 12 * 60, "12 minutes"),
])
def test_verdict_high_agreement_but_too_little_evidence(count: int, span: float, over: str) -> None:
    assert only(spread(count, span)).verdict == (
        f"AuthenticateUser: 100.0% of {count:,} agree over {over} — not ready: too few comparisons "
        "(needs 1,000 over a day)"
    )


def test_verdict_never_rounds_up_to_ready() -> None:
    # 99.86% would print as 99.9% when rounded; it is below the bar, so it must not.
    records = [*spread(4993, 2 * DAY), *(differ(NOW - 1, FIRST_NAME) for _ in range(7))]
    summary = only(records)
    assert summary.verdict.startswith("AuthenticateUser: 99.8% of 5,000 agree over 2 days — not ready: top")
    assert verdict(summary) == summary.verdict


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 seconds"),
    (1, "1 second"),
    (90, "1 minute"),
    (12 * 60 + 30, "12 minutes"),
    (5 * HOUR + 59 * 60, "5 hours"),
    (DAY, "1 day"),
    (3 * DAY + HOUR, "3 days"),
    (1200 * DAY, "1,200 days"),
])
def test_humane_duration(seconds: float, text: str) -> None:
    assert humane_duration(seconds) == text


@pytest.mark.parametrize(("text", "since"), [
    ("3d", NOW - 3 * DAY),
    ("12h", NOW - 12 * HOUR),
    ("30m", NOW - 30 * 60),
    ("90s", NOW - 90),
    (" 12h ", NOW - 12 * HOUR),
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC).timestamp()),
    ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()),
    ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()),
    ("2026-11-20T12:00:00+02:00", datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()),
])
def test_parse_since(text: str, since: float) -> None:
    assert parse_since(text, NOW) == since


@pytest.mark.parametrize("text", ["", "yesterday", "3", "3 weeks", "d", "-3d", "2026-13-01", "12x"])
def test_parse_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="expected an age like 3d, 12h, 30m, 90s or an ISO date"):
        parse_since(text, NOW)


def test_parse_since_refuses_the_future() -> None:
    with pytest.raises(ValueError, match="in the future"):
        parse_since("2027-01-01", NOW)


def sample() -> list[OperationSummary]:
    records = [
        *spread(30, 5 * HOUR, cohort="pilot"),
        differ(NOW - 2 * HOUR, FIRST_NAME, legacy_ms=12.5, rest_ms=40.0),
        record(NOW - HOUR, "differ", rest_error="unavailable", rest_ms=None),
        record(NOW - 60, operation="ListUsers"),
    ]
    return summarise(records, {OPERATION: 3}, {OPERATION: 1}, NOW)


def test_render_json_round_trips_the_numbers() -> None:
    summaries = sample()
    data = json.loads(render_json(summaries))
    first = data["operations"][0]
    assert [operation["operation"] for operation in data["operations"]] == [OPERATION, "ListUsers"]
    assert (first["compared"], first["agreed"], first["dropped"], first["fallbacks"]) == (32, 30, 3, 1)
    assert first["agreement"] == pytest.approx(summaries[0].agreement)
    assert first["top_differences"] == [{"path": FIRST_NAME, "count": 1}]
    assert first["latency"]["legacy"] == {"p50": 10.0, "p95": 10.0}
    assert first["errors"]["rest"] == {"unavailable": 1}
    assert first["cohorts"] == {"pilot": {"compared": 30, "agreed": 30}}
    assert first["first_ts"] == "2026-11-22T07:00:00Z"
    assert first["last_ts"] == "2026-11-22T12:00:00Z"
    assert first["series"][0] == {
        "start": "2026-11-22T07:00:00Z", "compared": 6, "agreed": 6, "legacy_p50": 10.0, "rest_p50": 20.0,
    }
    assert first["verdict"] == summaries[0].verdict
    assert render_json(summaries) == render_json(sample())


def test_render_table_has_the_numbers_and_the_verdict() -> None:
    summaries = sample()
    table = render_table(summaries, "3d")
    assert table.startswith("Migration report since 3d\n")
    for summary in summaries:
        assert f"  {summary.verdict}\n" in table
    assert "AuthenticateUserResult.FirstName" in table
    assert "unavailable" in table
    lines = table.splitlines()
    legacy, rest = (next(line for line in lines if line.strip().startswith(side))
                    for side in ("legacy", "rest"))
    # Columns line up: the p95 column ends at the same place on both rows.
    assert len(legacy) == len(rest)


def test_render_table_when_nothing_was_compared() -> None:
    assert "Nothing compared" in render_table([], "12h")


def parse(page: str) -> Any:
    # The page is also well-formed XML: strict parsing catches unclosed or misnested tags.
    etree.fromstring(page.encode())
    return html.fromstring(page)


def test_render_html_is_one_self_contained_page() -> None:
    summaries = sample()
    page = render_html(summaries, "3d", NOW)
    document = parse(page)
    assert "http://" not in page
    assert "https://" not in page
    assert "//" not in "".join(document.xpath("//@src | //@href"))
    assert not document.xpath("//script | //link | //img | //iframe")
    charts = document.xpath("//svg")
    assert len(charts) == 2 * len(summaries)
    titles = [chart.xpath("./title/text()")[0] for chart in charts]
    assert titles == [
        "AuthenticateUser: agreement over time (%)",
        "AuthenticateUser: p50 latency over time (ms)",
        "ListUsers: agreement over time (%)",
        "ListUsers: p50 latency over time (ms)",
    ]
    assert document.xpath("//svg//polyline")
    verdicts = [element.text_content() for element in document.xpath('//*[contains(@class, "verdict")]')]
    assert verdicts == [summary.verdict for summary in summaries]
    assert document.xpath("//table//th[text()='agreement']")
    assert document.xpath(f"//table//td[text()='{FIRST_NAME}']")
    assert document.xpath("//style")


def test_render_html_marks_a_ready_verdict() -> None:
    summaries = summarise(spread(1000, 2 * DAY), {}, {}, NOW)
    document = parse(render_html(summaries, "3d", NOW))
    (element,) = document.xpath('//*[contains(@class, "verdict")]')
    assert element.get("class") == "verdict ready"


def test_render_html_escapes_everything() -> None:
    evil = 'A.<script>alert("x")</script>.B'
    summaries = summarise([differ(NOW - 60, evil, cohort="<b>pilot</b>")], {}, {}, NOW)
    page = render_html(summaries, "<i>3d</i>", NOW)
    document = parse(page)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert not document.xpath("//script | //b | //i")
    assert document.xpath("//td[contains(text(), '<script>')]")


def test_render_html_when_nothing_was_compared() -> None:
    document = parse(render_html([], "3d", NOW))
    assert "Nothing compared" in document.xpath('//*[@class="verdict"]')[0].text_content()
