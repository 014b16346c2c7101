"""Prometheus text exposition of the figures the store holds, the same for every worker."""

from __future__ import annotations

from collections.abc import Mapping

_HELP = {
    "compared": "Side-by-side comparisons recorded, by operation and outcome.",
    "dropped": "Comparisons dropped because the side queue was full.",
    "fallback": "Requests answered by the legacy service because the REST side failed.",
}


def _label(value: str) -> str:
    # Prometheus text format: backslash, double quote and newline are escaped in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(totals: Mapping[str, int], breakers: Mapping[str, str] | None = None) -> str:
    """`totals` maps `<kind>:<operation>[:<outcome>]` to a count (see migrate.records);
    `breakers` maps an upstream to its circuit state in the worker that answers."""
    lines: list[str] = []
    if breakers:
        name = "soap_bridge_breaker_open"
        lines += [f"# HELP {name} 1 while the upstream's circuit is open (half-open: 0.5), "
                  "as seen by the worker that answered.", f"# TYPE {name} gauge"]
        for upstream, state in sorted(breakers.items()):
            shown = {"open": "1", "half-open": "0.5"}.get(state, "0")
            lines.append(f'{name}{{upstream="{_label(upstream)}"}} {shown}')
    for kind, help_text in _HELP.items():
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
    return "\n".join(lines) + "\n"
