"""The HTML report, made by the real command from real records, opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from lxml import html

from bridge.store import SqliteStore


def _record(ts: float, outcome: str, cohort: str | None, rest_ms: float) -> dict[str, object]:
    differences = [] if outcome == "agree" else [{
        "path": "AuthenticateUserResult.Accounts.UserAccount[ContextIdentifier=5b0c]",
        "legacy": "present", "rest": None}]
    return {"ts": ts, "operation": "AuthenticateUser", "mode": "shadow", "cohort": cohort,
            "user": "u", "outcome": outcome, "differences": differences, "legacy_ms": 40.0,
            "rest_ms": rest_ms, "legacy_error": None, "rest_error": None}


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    store_path = tmp_path / "state.sqlite3"
    store = SqliteStore(str(store_path))
    now = time.time()
    for index in range(60):
        store.add_record("comparisons", _record(now - index * 60, "differ" if index % 10 == 0
                                                else "agree", "pilot", 20.0 + index), 86400)
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"store": f"sqlite:///{store_path}", "upstreams": {}}))
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "bridge", "report", "--config", str(config),
                           "--format", "html", "--output", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed (make test installs it: .ci/ensure-tools)"
    return found


def _headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False)


def test_report_page_renders_in_chromium(report_file: Path, tmp_path: Path) -> None:
    dumped = _headless(tmp_path, "--dump-dom", report_file.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    page = html.fromstring(dumped.stdout)
    verdict = page.find_class("verdict")
    assert verdict and "AuthenticateUser: 90.0% of 60 agree" in verdict[0].text_content()
    charts = page.xpath("//svg")
    assert len(charts) >= 2
    titles = " ".join(chart.findtext("title") or "" for chart in charts).lower()
    assert "agreement" in titles and "latency" in titles
    assert page.xpath("//table")
    assert "AuthenticateUserResult.Accounts.UserAccount" in dumped.stdout
    # Self-contained: nothing for the browser to fetch.
    assert "http://" not in report_file.read_text() and "https://" not in report_file.read_text()
    shot = tmp_path / "report.png"
    taken = _headless(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600",
                      report_file.as_uri())
    assert taken.returncode == 0 and shot.stat().st_size > 20_000
