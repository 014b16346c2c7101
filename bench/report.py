"""The bench's Markdown: machine, command, rows, tables, targets, profile and notes."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench import wrk
from bench.profile import PARTS, Split
from bench.rows import (
    BALANCE_ATTEMPTS,
    LOPSIDED,
    SANDBOX_THREADS,
    SERVER_SET_UP,
    SYNC,
    THREADS,
    Measure,
    Outcome,
)
from bench.targets import Target

NOTES_START = "<!-- notes: kept when the bench rewrites this file -->"
NOTES_END = "<!-- end of notes -->"
PLACEHOLDER = (
    "**TO BE FILLED IN after the run** (by the engineer who ran it): what these numbers say, "
    "where this machine is the limit rather than the server (see *cores busy*), and for each "
    "missed target what would close it. This paragraph is kept when `python -m bench` "
    "rewrites the file.")
PART_MEANING = {
    "parse": "reading the envelope (`soap/envelope.py` read_*, `soap/xmlparse.py`) and finding "
             "and decoding the operation (`SoapService.find`/`decode`)",
    "rules": "`RuleEngine.run` and what it calls (templates, lockout, token minting), less its "
             "store and upstream time",
    "store": "`bridge/store/*`: SQLite here",
    "serialise": "`SoapService.encode`/`answer`, `soap/writer.py`, `write_envelope`",
    "upstream": "`bridge/upstream/*`: HTTP to the sandbox, waiting included (none when warm)",
    "other": "the rest of the WSGI call: routing, dispatch, logging, metrics",
}


@dataclass(frozen=True)
class Context:
    command: str
    started: dt.datetime
    args: argparse.Namespace
    sandbox_startup: float
    users: int        # active users the load rotates through
    extra_users: int  # of which the bench added to the bundled seed
    caches: list[str]
    api_user: str
    load_average: tuple[str, str]  # /proc/loadavg before and after the run


def kept_notes(path: Path) -> str:
    """The notes section of an earlier report at `path`, else the placeholder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return PLACEHOLDER
    match = re.search(re.escape(NOTES_START) + r"\n(.*?)\n" + re.escape(NOTES_END), text, re.DOTALL)
    return match.group(1).strip() if match and match.group(1).strip() else PLACEHOLDER


def machine() -> list[tuple[str, str]]:
    cpu, ram = "unknown", "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else platform.processor() or "unknown"
        kib = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        ram = f"{int(kib.group(1)) / 1024 / 1024:.1f} GiB" if kib else "unknown"
    except OSError:
        pass
    return [
        ("CPU", f"{cpu} x {os.cpu_count()} (logical CPUs)"),
        ("memory", ram),
        ("kernel", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", platform.python_version()),
        ("gunicorn / granian", f"{_version('gunicorn')} / {_version('granian')}"),
        ("wrk", wrk.version()),
        ("spyne / requests / lxml / zeep", " / ".join(
            _version(name) for name in ("spyne", "requests", "lxml", "zeep"))),
    ]


def _servers() -> str:
    return "; ".join(f"*{name}*: {set_up}" for name, set_up in SERVER_SET_UP.items())


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.2f} ms"


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def summary(outcome: Outcome, connections: int) -> str:
    """One line for the progress output."""
    if outcome.skipped:
        return f"skipped: {outcome.skipped}"
    parts = []
    for level in (1, connections):
        measure = outcome.at(level)
        if measure is not None:
            parts.append(f"{level} conn {measure.load.rate:,.0f} req/s p50 {_ms(measure.load.p50_us)}")
    return ", ".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


DISTURBED = 0.25  # cores of other work above which a row was disturbed
LOAD_HEADER = ["row", "req/s", "p50", "p99", "server CPU µs/req", "sandbox CPU µs/req",
               "wrk CPU µs/req", "busiest worker", "cores busy", "other load", "calls/login"]


def _load_rows(outcomes: Sequence[Outcome], level: int) -> list[list[str]]:
    rows = []
    for outcome in outcomes:
        measure: Measure | None = outcome.at(level)
        if measure is None:
            rows.append([outcome.row.name, "skipped" if outcome.skipped else "—",
                         *(["—"] * (len(LOAD_HEADER) - 2))])
            continue
        load = measure.load
        busiest = measure.busiest_worker
        rows.append([
            outcome.row.name, f"{load.rate:,.0f}", _ms(load.p50_us), _ms(load.p99_us),
            _us(measure.per_request_us(measure.server_cpu)),
            _us(measure.per_request_us(measure.upstream_cpu)),
            _us(measure.per_request_us(load.cpu_seconds)),
            "—" if busiest is None else f"{busiest:.0%}",
            f"{measure.cores_busy:.2f}", f"{measure.other_cores:.2f}",
            f"{measure.calls_per_login:.3f}",
        ])
    return rows


def _warnings(outcomes: Sequence[Outcome], level: int) -> list[str]:
    """Rows whose numbers say more about this run than about the server."""
    lopsided = [o.row.name for o in outcomes if (m := o.at(level)) is not None and m.lopsided]
    again = [f"{o.row.name} ({o.attempts[level]} runs)" for o in outcomes if level in o.attempts]
    disturbed = [o.row.name for o in outcomes if (m := o.at(level)) is not None
                 and m.other_cores >= DISTURBED]
    lines = []
    if again:
        lines.append(f"- Measured again because one worker had taken {LOPSIDED:.0%} or more of the "
                     f"work (gthread keeps a connection on the worker that accepted it): "
                     f"{', '.join(again)}; the table shows the last run.")
    if lopsided:
        lines.append(f"- One worker did {LOPSIDED:.0%} or more of the work in: {', '.join(lopsided)}, "
                     f"in every one of {BALANCE_ATTEMPTS} runs. Their throughput is about one "
                     "worker's.")
    if disturbed:
        lines.append(f"- Other work on the machine took {DISTURBED:.2f} cores or more during: "
                     f"{', '.join(disturbed)}. Run the bench again on a quiet machine before "
                     "comparing these rows.")
    return ["", *lines] if lines else []


def render(context: Context, outcomes: Sequence[Outcome], checks: Sequence[Target],
           split: Split, notes: str) -> str:
    args = context.args
    n = args.connections
    cores = os.cpu_count() or 1
    out = [
        "# Performance",
        "",
        "Written by `python -m bench` (bench/run.py); run it again to refresh every number. "
        "The notes at the end are kept. Issues #5 and #14 ask for these measurements. `make bench` "
        "installs what it needs and runs it: the `bench` extra (`.venv/bin/pip install -e "
        "'.[bench]'`: Spyne), Debian's `wrk` and, for the Redis rows, a Redis at `--store` (its "
        "db is flushed).",
        "",
        "## Machine and run",
        "",
        *_table(["", ""], [*machine(), ("date", context.started.strftime("%Y-%m-%d %H:%M UTC")),
                           ("load average before / after", " / ".join(context.load_average)),
                           ("command", f"`{context.command}`")]),
        "",
        "## What runs",
        "",
        f"Everything is on loopback on this machine. The sandbox (`bridge.sandbox`, seeded with "
        f"the bundled users and {context.extra_users} more, {context.users} active users in all) is "
        f"the upstream of every row; it runs under gunicorn with one worker (its bearers live "
        f"in that process) and {SANDBOX_THREADS} threads, keep-alive (its own `soap-bridge "
        f"sandbox` server, wsgiref, closes every connection and would dominate). It started in "
        f"{context.sandbox_startup:.2f} s.",
        "",
        f"Each row names its server (the *Servers* table): {_servers()}. {args.workers} workers x "
        f"{THREADS} threads unless the row says otherwise. The bridge is the real CLI, "
        f"`soap-bridge serve --config … --workers N --threads {THREADS} --log-level warning "
        f"[--server granian]`, "
        f"with the `mappings/assuresign-api-key` rule: the Password field carries the API key of "
        f"`{context.api_user}`. Caches in the shipped rule: "
        f"{', '.join(f'`{c}`' for c in context.caches) or 'none'}; the cold rows use a copy "
        f"written at run time with every `steps[].cache` and `verify.cache` removed.",
        "",
        f"Load: `wrk` with `bench/load.lua`, rotating through the users' requests and checking "
        f"every answer (a 2xx carrying `Success=\"true\"`, or the token or accounts on direct "
        f"rows); any error or other answer stops the bench. Each row is measured at 1 "
        f"connection (`-t1 -c1`, latency) and at {n} connections (`-t2 -c{n}`, throughput), "
        f"each run {args.duration} s after a {args.warmup} s warm-up and a checked login.",
        "",
        *_table(["row", "what a request does"], [
            [o.row.name, o.row.what + (f" — **skipped**: {o.skipped}" if o.skipped else "")]
            for o in outcomes]),
        "",
        "## Results",
        "",
        "*server CPU*: user + system time of the server's master and workers (the sandbox on "
        "the direct rows) per request; *sandbox CPU*: the upstream's, per request; *wrk CPU*: "
        "the load generator's; *busiest worker*: that worker's share of the workers' CPU "
        "(gthread keeps each keep-alive connection on the worker that accepted it, so one "
        "worker can end up serving most connections); *cores busy*: server, sandbox and wrk "
        f"together per second of run, out of {cores}; *other load*: cores busy with anything "
        "else on the machine meanwhile (from /proc/stat; well above 0 means the row was "
        "disturbed and should be run again); *calls/login*: upstream calls the sandbox counted "
        "per request (wrk stops with requests in flight, so it can be off by a few calls).",
        "",
        f"### Throughput: {n} connections",
        "",
        *_table(LOAD_HEADER, _load_rows(outcomes, n)),
        *_warnings(outcomes, n),
        "",
        "### Latency: 1 connection",
        "",
        *_table(LOAD_HEADER, _load_rows(outcomes, 1)),
        *_warnings(outcomes, 1),
        "",
        "### Start-up, memory and stop",
        "",
        *_table(["row", "server", "workers x threads", "start-up (spawn to first successful "
                 "login)", "peak RSS per worker (VmHWM)", "stop (SIGTERM to exit)"], [
            [o.row.name, "sandbox (gunicorn)" if o.row.direct else o.row.server,
             "sandbox" if o.row.direct else f"{o.row.workers} x "
             f"{1 if o.row.server == SYNC else THREADS}",
             "—" if o.startup is None else f"{o.startup:.2f} s",
             "—" if not o.peak_rss_kib else f"{o.peak_rss_kib / 1024:.1f} MiB",
             "—" if o.stop is None else f"{o.stop:.2f} s"]
            for o in outcomes if not o.skipped]),
        "",
        "## Targets",
        "",
        "Every ratio is of rows of this one run; lines without a goal are for information.",
        "",
        *_table(["target", "goal", "measured", ""], [
            [t.name, t.goal, t.value, "—" if t.met is None else ("pass" if t.met else "**miss**")]
            for t in checks]),
        "",
        "## Where a warm request's time goes",
        "",
        f"The bridge's WSGI app in this process (`BridgeApp` on the warm rule, SQLite, metrics "
        f"in multiprocess files as under `soap-bridge serve`, against the same sandbox): every "
        f"user logged in once, then {split.requests} logins timed "
        f"({split.plain_us:,.0f} µs of this thread's CPU each without a profiler, no HTTP "
        f"server in front) and the "
        f"same {split.requests} under cProfile. cProfile slows Python code down, so read the "
        f"shares more than the microseconds. Own time is put in a part by module path "
        f"(bench/profile.py); code of others (zeep, lxml, the template language) counts in the "
        f"part that called it.",
        "",
        *_table(["part", "µs per request (profiled)", "share", "what it covers"], [
            [part, f"{split.parts_us[part]:,.0f}",
             f"{split.parts_us[part] / split.profiled_us:.0%}" if split.profiled_us else "—",
             PART_MEANING[part]] for part in PARTS]
            + [["total", f"{split.profiled_us:,.0f}", "100%", "all own time under the profiler"]]),
        "",
        "Top 10 functions by own time:",
        "",
        *_table(["function", "own µs per request", "calls per request"], [
            [f"`{name}`", f"{own:,.1f}", f"{calls:g}"] for name, own, calls in split.top]),
        "",
        "## How to read this, and what would close a missed target",
        "",
        "- A floor is what its server costs with no work at all: the server, HTTP on loopback "
        "and wrk. No app under that server can beat it; the warm latency target is a multiple "
        "of it.",
        f"- This machine has {cores} cores for the server, the sandbox and wrk together: when "
        "*cores busy* is near that, the row measures the machine as much as the server. The "
        "sandbox is a single process (one GIL): on the cold rows its CPU per request bounds "
        "the throughput of every server that must call it.",
        "- The added-latency target subtracts the upstream calls as wrk (C, keep-alive) makes "
        "them: the bridge's own HTTP client (`http.client`, two calls per cold login) counts as "
        "added time, and at 1 connection the server, the sandbox and wrk still share the cores.",
        "- Spyne answers the vendor's bearer as its AuthenticationToken, while the bridge "
        "answers a token of its own: the comparison favours the peer by that work.",
        "",
        NOTES_START,
        notes,
        NOTES_END,
        "",
    ]
    return "\n".join(out)
