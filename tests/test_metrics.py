"""The Prometheus exposition: names, labels, escaping."""

from __future__ import annotations

from bridge.metrics import render_metrics


def test_counters_and_labels() -> None:
    text = render_metrics({"compared:AuthenticateUser:agree": 3, "dropped:AuthenticateUser": 2,
                           "fallback:Odd\"Op\\": 1})
    lines = text.splitlines()
    assert 'soap_bridge_compared_total{operation="AuthenticateUser",outcome="agree"} 3' in lines
    assert 'soap_bridge_dropped_total{operation="AuthenticateUser"} 2' in lines
    assert 'soap_bridge_fallback_total{operation="Odd\\"Op\\\\"} 1' in lines
    assert "# TYPE soap_bridge_fallback_total counter" in lines
    assert text.endswith("\n")
