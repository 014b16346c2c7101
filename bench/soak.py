"""Soak: many concurrent legacy clients for a while; errors, lockouts and worker memory.

    python -m bench.soak [--clients 200] [--seconds 60] [--workers 2] [--store URL]

Starts the sandbox and the bridge (gunicorn, N workers) on loopback, then drives
AuthenticateUser from `--clients` threads: most clients are users with the right
password who now and then mistype it; some are attackers who only ever send wrong
passwords. It checks that nothing unexpected comes back, that every attacker is
locked after exactly `max_failures` refusals (a locked user gets the same answer as
a wrong password, so the bridge's metrics tell: one lockout per attacker, and every
later attempt answered as `locked_out` without asking the upstream), and that
worker memory stays flat after warm-up. Prints a Markdown table (paste it into docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from bench import proc
from bench.servers import free_port
from bench.soap import USERS_PATH, login

REPO = Path(__file__).resolve().parent.parent
MAX_FAILURES = 5
INVALID = b"Invalid user name or password."


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not up: {url}")


def _samples(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    attacker_requests: int = 0

    def add(self, outcome: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.latencies.append(seconds)

    def wrong(self, what: str) -> None:
        with self.lock:
            if len(self.unexpected) < 20:
                self.unexpected.append(what)
            self.outcomes["unexpected"] += 1


def _client(url: str, username: str, password: str, attacker: bool, stop: float,
            tally: Tally) -> None:
    session = requests.Session()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    sent = 0
    while time.monotonic() < stop:
        sent += 1
        mistype = attacker or sent % 10 == 0
        started = time.perf_counter()
        try:
            response = session.post(url + USERS_PATH, headers=headers, timeout=30,
                                    data=login(username, "wrong" if mistype else password))
        except requests.RequestException as exc:
            tally.wrong(f"{username}: {type(exc).__name__}")
            continue
        elapsed = time.perf_counter() - started
        body = response.content
        if response.status_code != 200:
            tally.wrong(f"{username}: HTTP {response.status_code}")
        elif attacker:
            tally.add("refused", elapsed) if INVALID in body else tally.wrong(
                f"{username}: an attacker was not refused: {body[-200:]!r}")
        elif mistype:
            tally.add("mistyped", elapsed) if INVALID in body else tally.wrong(
                f"{username}: mistyped password not refused")
        elif b'Success="true"' in body:
            tally.add("ok", elapsed)
        else:
            tally.wrong(f"{username}: login failed: {body[-200:]!r}")
    if attacker:
        with tally.lock:
            tally.attacker_requests += sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--attackers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--store", default=None, help="store URL (default: SQLite in a temp dir)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="soap-bridge-soak-"))
    seed = yaml.safe_load((REPO / "bridge" / "sandbox" / "seed.yaml").read_text())
    users = [(f"soak{i}@soak.example", f"Soak-{i}-pass") for i in range(args.clients)]
    for index, (username, password) in enumerate(users):
        seed["users"].append({
            "username": username, "password": password, "first_name": "Soak",
            "last_name": str(index), "status": "active",
            "accounts": [{"context_identifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a",
                          "name": "Example, Inc.", "primary": True}]})
    (work / "seed.yaml").write_text(yaml.safe_dump(seed))
    demo = next(u for u in seed["api_users"] if u["username"] == "bridge-demo")

    sandbox_port, bridge_port = free_port(), free_port()
    sandbox_url, bridge_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{bridge_port}"
    upstream = {"base_url": sandbox_url, "connect_timeout": "2s", "read_timeout": "10s"}
    config = {
        "wsdl": str(REPO / "wsdl" / "DocumentNOW.wsdl"),
        "mappings": [str(REPO / "mappings" / "assuresign")],
        "store": args.store or f"sqlite:///{work / 'state.sqlite3'}",
        "upstreams": {"account": upstream, "esign": upstream},
        "secrets": {"api_username": {"env": "SOAK_API_USERNAME"},
                    "api_key": {"env": "SOAK_API_KEY"}},
        "lockout": {"max_failures": MAX_FAILURES, "window": "15m", "duration": "15m"},
        "vars": {"expired_password_url": "https://sandbox.invalid/"},
        "log_level": "info",
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "SOAK_API_USERNAME": demo["username"], "SOAK_API_KEY": demo["key"]}
    quiet = subprocess.DEVNULL
    sandbox = subprocess.Popen([sys.executable, "-m", "bridge", "sandbox", "--port",
                                str(sandbox_port), "--seed", str(work / "seed.yaml")],
                               stdout=quiet, stderr=quiet)
    bridge = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--config",
                               str(work / "config.yaml"), "--port", str(bridge_port),
                               "--workers", str(args.workers), "--threads", str(args.threads)],
                              cwd=work, env=env, stdout=quiet, stderr=open(work / "bridge.log", "w"))
    try:
        _wait(f"{sandbox_url}/_sandbox/healthz")
        _wait(f"{bridge_url}/healthz")
        tally = Tally()
        stop = time.monotonic() + args.seconds
        threads = [threading.Thread(target=_client, daemon=True, args=(
            bridge_url, username, password, index < args.attackers, stop, tally))
            for index, (username, password) in enumerate(users)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        memory: list[tuple[float, dict[int, int]]] = []
        while any(thread.is_alive() for thread in threads):
            memory.append((time.monotonic() - started,
                           {pid: proc.rss_kib(pid) for pid in proc.workers(bridge.pid)}))
            time.sleep(2)
        elapsed = time.monotonic() - started
        metrics = _samples(requests.get(f"{bridge_url}/metrics", timeout=10).text)
    finally:
        bridge.terminate()
        sandbox.terminate()
        bridge.wait(30)
        sandbox.wait(30)

    after_warmup = next((m for t, m in memory if t >= args.warmup), memory[0][1])
    at_end = memory[-1][1]
    growth = {pid: at_end.get(pid, 0) - after_warmup.get(pid, 0) for pid in after_warmup}
    latencies = sorted(tally.latencies)

    def pct(q: float) -> str:
        return f"{latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000:.1f} ms" \
            if latencies else "-"

    lockouts = int(metrics.get("soap_bridge_lockouts_total", 0))
    locked_out = int(sum(v for k, v in metrics.items()
                         if k.startswith("soap_bridge_requests_total") and 'outcome="locked_out"' in k))
    expected_locked_out = tally.attacker_requests - MAX_FAILURES * args.attackers
    exact = lockouts == args.attackers and locked_out == expected_locked_out
    total = sum(tally.outcomes.values())
    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"),
        ("command", f"python -m bench.soak --clients {args.clients} --seconds {args.seconds:g} "
                    f"--workers {args.workers}" + (f" --store {args.store}" if args.store else "")),
        ("store", config["store"].split("?")[0] if args.store else "SQLite"),
        ("requests", f"{total:,} in {elapsed:.0f} s ({total / elapsed:,.0f}/s)"),
        ("outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(tally.outcomes.items()))),
        ("latency p50 / p95 / p99", f"{pct(0.5)} / {pct(0.95)} / {pct(0.99)}"),
        ("unexpected answers", str(tally.outcomes["unexpected"])),
        ("lockouts (one per attacker expected)", f"{lockouts} of {args.attackers}"),
        (f"attempts answered locked out (attempts after the first {MAX_FAILURES})",
         f"{locked_out:,} of {expected_locked_out:,}"),
        ("worker RSS after warm-up → end",
         ", ".join(f"{after_warmup[p] // 1024} → {at_end.get(p, 0) // 1024} MiB" for p in after_warmup)),
        ("worker RSS growth after warm-up",
         ", ".join(f"{g // 1024:+d} MiB" for g in growth.values())),
    ]
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    for line in tally.unexpected:
        print(f"unexpected: {line}", file=sys.stderr)
    print(f"(bridge log: {work / 'bridge.log'})", file=sys.stderr)
    ok = (tally.outcomes["unexpected"] == 0 and exact
          and all(g < 10 * 1024 for g in growth.values()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
