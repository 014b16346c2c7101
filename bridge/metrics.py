"""Prometheus metrics: per-instance request figures, and fleet figures read from the store.

Worker processes share their counters through prometheus-client's multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`, set up by `soap-bridge serve`), so a scrape of
any worker reports the whole instance.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("soap_bridge_requests", "SOAP requests answered, by operation, mode and outcome.",
                   ["operation", "mode", "outcome"])
REQUEST_SECONDS = Histogram("soap_bridge_request_seconds", "Time to answer a SOAP request.",
                            ["operation"], buckets=_LATENCY_BUCKETS)
UPSTREAM_CALLS = Counter("soap_bridge_upstream_calls",
                         "Calls to each upstream, by result (2xx, 4xx, 5xx, timeout, connect, "
                         "protocol, open; deadline and max_answer_bytes when that limit of the "
                         "upstream cut the call short).", ["upstream", "result"])
UPSTREAM_SECONDS = Histogram("soap_bridge_upstream_seconds", "Time each upstream took to answer.",
                             ["upstream"], buckets=_LATENCY_BUCKETS)
BEARER_CACHE = Counter("soap_bridge_step_cache", "Cached step results (bearer tokens) used or "
                       "fetched.", ["result"])
LOCKOUTS = Counter("soap_bridge_lockouts", "Users locked out by the bridge after repeated failures.")
REST_FACADE = Counter("soap_bridge_rest_requests", "Requests of the vendor's deprecated REST "
                      "callers, by endpoint (credentials, forward, sso) and outcome.",
                      ["endpoint", "outcome"])
SSO_TOKENS = Counter("soap_bridge_sso_tokens", "Web-UI hand-off tokens asked for (never kept), by "
                     "entry (v1, rest) and outcome.", ["entry", "outcome"])
READ_TIMEOUTS = Counter("soap_bridge_read_timeouts", "Requests not received in time and answered "
                        "408, by the part that was late (headers, body).", ["phase"])

_FLEET_HELP = {
    "compared": "Side-by-side comparisons recorded, by operation and outcome (whole fleet).",
    "dropped": "Comparisons dropped because the side queue was full (whole fleet).",
    "fallback": "Requests answered by the legacy service because the REST side failed "
                "(whole fleet).",
    "mode_change": "Changes of a cohort's mode by promotion rule or operator, outcome "
                   "from-to (whole fleet).",
}


@functools.lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, kept: labels() checks and locks on every call, and each
    request counts in three to five metrics. Children are made on first use, as before."""
    return metric.labels(*labels)


def count_request(operation: str, mode: str, outcome: str, seconds: float) -> None:
    child(REQUESTS, operation, mode, outcome).inc()
    child(REQUEST_SECONDS, operation).observe(seconds)


def observe_upstream(upstream: str, result: str, seconds: float) -> None:
    child(UPSTREAM_CALLS, upstream, result).inc()
    if result != "open":
        child(UPSTREAM_SECONDS, upstream).observe(seconds)


def _label(value: str) -> str:
    # Prometheus text format: backslash, double quote and newline are escaped in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(totals: Mapping[str, int], breakers: Mapping[str, str] | None = None) -> str:
    """This instance's metrics, then the fleet's from the store, then this worker's breakers.

    `totals` maps `<kind>:<operation>[:<outcome>]` to a count (see migrate.records).
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        instance = generate_latest(registry).decode()
    else:
        instance = generate_latest().decode()
    lines: list[str] = [instance.rstrip("\n")]
    if breakers:
        name = "soap_bridge_breaker_open"
        lines += [f"# HELP {name} 1 while the upstream's circuit is open (half-open: 0.5), "
                  "as seen by the worker that answered.", f"# TYPE {name} gauge"]
        for upstream, state in sorted(breakers.items()):
            shown = {"open": "1", "half-open": "0.5"}.get(state, "0")
            lines.append(f'{name}{{upstream="{_label(upstream)}"}} {shown}')
    for kind, help_text in _FLEET_HELP.items():
        name = f"soap_bridge_{kind}_total"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for key, value in sorted(totals.items()):
            parts = key.split(":")
            if parts[0] != kind or len(parts) < 2:
                continue
            labels = f'operation="{_label(parts[1])}"'
            if len(parts) > 2:
                labels += f',outcome="{_label(parts[2])}"'
            lines.append(f"{name}{{{labels}}} {value}")
    return "\n".join(line for line in lines if line) + "\n"
