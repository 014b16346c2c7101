"""A careless operator, against a running bridge: a damaged store is not called ready, and what
puts credentials at risk is said on stderr whatever the log level."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.servers import Server, post_login, start_bridge, write_config


def test_readyz_reports_a_sqlite_store_that_cannot_be_read(sandbox: Server, tmp_path: Path) -> None:
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url), workers=1)
    try:
        assert b'Success="true"' in post_login(bridge, "jdoe@example.com", "Password").content
        assert requests.get(bridge.url + "/readyz", timeout=5).status_code == 200
        database = tmp_path / "state" / "bridge.sqlite3"
        database.write_bytes(b"\xa5" * database.stat().st_size)
        ready = requests.get(bridge.url + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] is False
        assert "Traceback" not in bridge.output()
    finally:
        bridge.stop()


def test_serve_warns_about_credentials_at_risk_even_at_log_level_error(sandbox: Server,
                                                                        tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url)
    text = config.read_text()
    # One more upstream no rule uses, whose certificate would not be checked.
    config.write_text(text.replace("upstreams:\n", "upstreams:\n  spare: {base_url: "
                                   "'https://127.0.0.1:9', verify_tls: false}\n", 1))
    bridge = start_bridge(tmp_path, config, workers=1, extra_args=["--log-level", "error"])
    try:
        err = bridge.stderr.read_text()
        assert ("soap-bridge serve: warning: " + str(config) + ": upstream 'account' is plain "
                "http:// yet is sent passwords, keys or bearers (step 'bearer')") in err
        assert ("upstream 'esign' is plain http:// yet is sent passwords, keys or bearers "
                "(step 'accounts', step 'credentials', step 'link', step 'links')") in err
        assert ("upstream 'spare' has verify_tls: false: its certificate is not checked") in err
    finally:
        bridge.stop()
