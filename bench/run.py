"""`python -m bench`: the bridge against the stack's floor, a hand-written Spyne peer and its
own upstream, on loopback, under the same WSGI server; Markdown to stdout and docs/performance.md.

Start-up, load, /proc readings and the sandbox's call counts are taken row by row (see
bench/rows.py); the profile of a warm request is taken in-process at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import requests
import yaml

from bench import proc, report, rest, soap, targets, wrk
from bench.profile import Split, profile_bridge
from bench.rows import (
    BALANCE_ATTEMPTS,
    GRANIAN,
    GTHREAD,
    SANDBOX_THREADS,
    THREADS,
    Measure,
    Outcome,
    Row,
    plan,
)
from bench.rules import REPO, shipped_caches, write_cold
from bench.sandbox import api_user, write_seed
from bench.servers import Fleet, Server, free_port

DEFAULT_STORE = "redis://127.0.0.1:6379/9"
API_USERNAME_ENV = "BENCH_API_USERNAME"
# The API user's key: the api-key pack's signing-link rules read it (not a login's).
API_KEY_ENV = "BENCH_API_KEY"
STATE_KEY_ENV = "SOAP_BRIDGE_STATE_KEY"
EXTRA_USERS = 100
WARM_UPS = 5
EPILOG = """\
other benchmarks:
  python -m bench.soak   many concurrent clients for a while: errors, lockouts, worker memory
"""


class BenchError(RuntimeError):
    """The bench cannot go on: a server failed, or the load saw errors."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Throughput, latency, CPU, memory, upstream calls and start-up of the bridge\n"
                    "against the stack's floor, a hand-written Spyne peer and the upstream itself;\n"
                    "Markdown to stdout and to --output.")
    parser.add_argument("--duration", type=int, default=6, help="seconds per measured run (6)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up before each (1)")
    parser.add_argument("--connections", type=int, default=32,
                        help="connections of the throughput load, 16-64 (32)")
    parser.add_argument("--workers", type=int, default=2, help="workers per server (2)")
    parser.add_argument("--store", default=DEFAULT_STORE,
                        help=f"Redis URL for the Redis rows; its db is flushed ({DEFAULT_STORE})")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke check")
    parser.add_argument("--rows", help="only these rows, comma-separated (the targets of the "
                        "others are then not measured)")
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not 16 <= args.connections <= 64:
        parser.error("--connections must be from 16 to 64")
    if args.workers < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--workers and --duration must be at least 1, --warmup at least 0")
    if not args.store.startswith(("redis://", "rediss://")):
        parser.error("--store must be a redis:// URL")
    if args.quick:
        args.duration, args.warmup = 2, 1
    return args


class Bench:
    """One run: the sandbox, then each row's server in turn, then the profile."""

    def __init__(self, args: argparse.Namespace, work: Path, fleet: Fleet) -> None:
        self.args = args
        self.work = work
        self.fleet = fleet
        self.users = write_seed(work / "seed.yaml", EXTRA_USERS)
        self.api_username, self.api_key = api_user()
        self.state_key = secrets.token_urlsafe(32)
        self.bridge_env = {**os.environ, API_USERNAME_ENV: self.api_username,
                           API_KEY_ENV: self.api_key,
                           STATE_KEY_ENV: self.state_key, "PYTHONUNBUFFERED": "1"}
        self.cold_rules = write_cold(work / "mappings-cold")
        self.logins = [soap.login(user, self.api_key) for user in self.users]
        self.soap_load = wrk.Load("POST", soap.USERS_PATH, soap.HEADERS,
                                  [("", body.decode()) for body in self.logins],
                                  soap.SUCCESS).write(work / "soap.requests")
        self.sandbox: Server | None = None
        self.certificate = make_certificate(work)
        self.levels = (1, args.connections)

    # -- servers --------------------------------------------------------------

    def host(self, name: str, app: str, workers: int, threads: int, log: Path,
             ready: Callable[[str], bool], *extra: str, server: str = GTHREAD) -> Server:
        port = free_port()
        return self.fleet.start(name, [sys.executable, "-m", "bench.host", app, "--port", str(port),
                                       "--workers", str(workers), "--threads", str(threads),
                                       "--server", server, *extra], port, log, ready, cwd=REPO)

    def start_sandbox(self) -> Server:
        self.sandbox = self.host(
            "sandbox", "sandbox", 1, SANDBOX_THREADS, self.work / "sandbox.log",
            lambda url: requests.get(url + "/_sandbox/healthz", timeout=2).status_code == 200,
            "--seed", str(self.work / "seed.yaml"))
        return self.sandbox

    def logs_in(self, url: str) -> bool:
        answer = requests.post(url + soap.USERS_PATH, data=self.logins[0], headers=soap.HEADERS,
                               timeout=10, verify=str(self.certificate[0]))
        return answer.status_code == 200 and soap.succeeded(answer.content)

    def bridge_config(self, row: Row, folder: Path) -> Path:
        assert self.sandbox is not None
        upstream = {"base_url": self.sandbox.url, "connect_timeout": "2s", "read_timeout": "10s",
                    "breaker": {"failures": 1000}}
        config = {
            "wsdl": str(REPO / "wsdl" / "DocumentNOW.wsdl"),
            "mappings": [str(self.cold_rules if row.cold else REPO / "mappings" / "assuresign-api-key")],
            "store": f"sqlite:///{folder / 'state.sqlite3'}",
            "upstreams": {"account": upstream, "esign": upstream},
            "secrets": {"api_username": {"env": API_USERNAME_ENV},
                        "api_key": {"env": API_KEY_ENV}},
            "vars": {"expired_password_url": "https://sandbox.invalid/ChangePassword?expired=1"},
            "log_level": "warning",
        }
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start(self, row: Row) -> Server:
        folder = self.work / row.name
        folder.mkdir()
        log = folder / "server.log"
        if row.kind in ("floor", "spyne-bare"):
            return self.host(row.name, row.kind, row.workers, THREADS, log, self.logs_in,
                             server=row.server)
        if row.kind == "spyne":
            assert self.sandbox is not None
            return self.host(row.name, "spyne", row.workers, THREADS, log, self.logs_in,
                             "--upstream", self.sandbox.url, "--api-user", self.api_username,
                             server=row.server)
        port = free_port()
        command = [sys.executable, "-m", "bridge", "serve", "--config",
                   str(self.bridge_config(row, folder)), "--port", str(port),
                   "--workers", str(row.workers), "--threads", str(THREADS), "--log-level", "warning",
                   "--server", "granian" if row.server == GRANIAN else "gunicorn"]
        if row.redis:
            assert row.store is not None
            command += ["--store", row.store]
        if row.tls:
            cert, key = self.certificate
            command += ["--certfile", str(cert), "--keyfile", str(key)]
        return self.fleet.start(row.name, command, port, log, self.logs_in,
                                env=self.bridge_env, cwd=folder,
                                scheme="https" if row.tls else "http")



    # -- the sandbox ----------------------------------------------------------

    def sandbox_calls(self) -> int:
        assert self.sandbox is not None
        calls = requests.get(self.sandbox.url + "/_sandbox/stats", timeout=10).json()["calls"]
        return sum(count for name, count in calls.items() if not name.startswith("_sandbox"))

    def reset_sandbox(self) -> None:
        assert self.sandbox is not None
        requests.post(self.sandbox.url + "/_sandbox/reset", timeout=10).raise_for_status()

    def issue_bearer(self, session: requests.Session, username: str) -> str:
        assert self.sandbox is not None
        answer = session.post(self.sandbox.url + rest.API_USER_PATH, timeout=10,
                              data=rest.api_user_body(self.api_username, self.api_key, username),
                              headers={"Content-Type": "application/json"})
        token = rest.token_of(answer.json()) if answer.status_code == 200 else None
        if token is None:
            raise BenchError(f"the sandbox issued no bearer for {username}: {answer.text[:300]}")
        return token

    def direct_load(self, row: Row) -> tuple[Path, str]:
        """wrk's requests for a direct row and what each answer must hold; the accounts row's
        bearers are issued now (the demo API user's: each may read the first user's accounts)."""
        assert self.sandbox is not None
        json_type = {"Content-Type": "application/json", "Accept": "application/json"}
        if row.kind == "api-user":
            bodies = [rest.api_user_body(self.api_username, self.api_key, user).decode()
                      for user in self.users]
            load = wrk.Load("POST", rest.API_USER_PATH, json_type, [("", b) for b in bodies], '"token"')
        else:
            with requests.Session() as session:
                bearers = [self.issue_bearer(session, user) for user in self.users]
            load = wrk.Load("GET", rest.accounts_path(self.users[0]), {"Accept": "application/json"},
                            [(f"Authorization: {rest.bearer_header(b)}", "") for b in bearers],
                            '"userAccounts"')
        return load.write(self.work / f"{row.name}.requests"), load.expect

    def check_direct(self, row: Row) -> None:
        assert self.sandbox is not None
        with requests.Session() as session:
            bearer = self.issue_bearer(session, self.users[0])
            if row.kind == "accounts":
                answer = session.get(self.sandbox.url + rest.accounts_path(self.users[0]), timeout=10,
                                     headers={"Authorization": rest.bearer_header(bearer)})
                if answer.status_code != 200 or "userAccounts" not in answer.text:
                    raise BenchError(f"{row.name}: the check request failed: {answer.text[:300]}")

    # -- one row ----------------------------------------------------------------

    def run_row(self, row: Row) -> Outcome:
        assert self.sandbox is not None
        outcome = Outcome(row)
        if row.redis:
            problem = flush_redis(self.args.store)
            if problem:
                outcome.skipped = f"no Redis at {self.args.store}: {problem}"
                return outcome
        self.reset_sandbox()
        server = None if row.direct else self.start(row)
        target = server or self.sandbox
        requests_file, expect = self.direct_load(row) if row.direct else (self.soap_load, soap.SUCCESS)
        try:
            if server is not None:
                outcome.startup = server.startup
                server.wait_for_workers(row.workers)
            for connections in self.levels:
                if row.direct:
                    self.check_direct(row)
                elif not self.logs_in(target.url):
                    raise BenchError(f"{row.name}: the check login did not succeed")
                for attempt in range(1, BALANCE_ATTEMPTS + 1):
                    if self.args.warmup:
                        self.warm_up(row, target, requests_file, expect, connections)
                    measure = self.measure(row, target, requests_file, expect, connections)
                    outcome.measures[connections] = measure
                    if attempt > 1:
                        outcome.attempts[connections] = attempt
                    if not measure.lopsided:
                        break
            if server is not None:
                outcome.peak_rss_kib = max((proc.peak_rss_kib(pid) for pid in proc.workers(
                    server.process.pid)), default=0)
        finally:
            if server is not None:
                outcome.stop = self.fleet.stop(server)
            if row.redis:
                flush_redis(self.args.store)
        return outcome

    def warm_up(self, row: Row, target: Server, requests_file: Path, expect: str,
                connections: int) -> None:
        """Load for --warmup seconds; a warm bridge row again (up to WARM_UPS times) until a
        warm-up made no upstream call: every worker has then seen every user, whatever the
        machine's speed, and the measured run is of warm logins only."""
        for _ in range(WARM_UPS if row.kind == "bridge" and not row.cold else 1):
            before = self.sandbox_calls()
            self.load(row, target, requests_file, expect, connections, self.args.warmup)
            if self.sandbox_calls() == before:
                return

    def load(self, row: Row, target: Server, requests_file: Path, expect: str,
             connections: int, seconds: int) -> wrk.Result:
        result = wrk.run(target.url, requests_file, expect, connections, seconds)
        if result.failures:
            raise BenchError(f"{row.name}, {connections} connection(s): wrk saw {result.failures} "
                             f"in {result.requests} requests\n{target.tail()}")
        return result

    def measure(self, row: Row, target: Server, requests_file: Path, expect: str,
                connections: int) -> Measure:
        """One measured run; on direct rows the target is the sandbox itself."""
        assert self.sandbox is not None
        server_pids = target.pids
        sandbox_pids = self.sandbox.pids
        calls_before = self.sandbox_calls()
        workers_before = [proc.cpu_seconds([pid]) for pid in server_pids[1:]]
        server_before = proc.cpu_seconds(server_pids)
        sandbox_before = proc.cpu_seconds(sandbox_pids)
        busy_before = proc.busy_seconds()
        result = self.load(row, target, requests_file, expect, connections, self.args.duration)
        busy = proc.busy_seconds() - busy_before
        server_cpu = proc.cpu_seconds(server_pids) - server_before
        sandbox_cpu = proc.cpu_seconds(sandbox_pids) - sandbox_before
        workers = tuple(proc.cpu_seconds([pid]) - before
                        for pid, before in zip(server_pids[1:], workers_before, strict=True))
        calls = self.sandbox_calls() - calls_before
        return Measure(connections, result, server_cpu, None if row.direct else sandbox_cpu, calls,
                       workers, busy)

    # -- the profile ------------------------------------------------------------

    def profile(self, count: int) -> Split:
        folder = self.work / "profile"
        folder.mkdir()
        self.reset_sandbox()
        warm = Row("profile", "bridge", 1, "", store="sqlite")
        return profile_bridge(self.bridge_config(warm, folder), self.state_key,
                              {API_USERNAME_ENV: self.api_username, API_KEY_ENV: self.api_key},
                              self.logins, count,
                              folder / "metrics")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, for the TLS rows (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return cert, key


def flush_redis(url: str) -> str:
    """Empty the bench's Redis db; the problem if there is no Redis there, else ''."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.flushdb()
        finally:
            client.close()
    except redis.RedisError as exc:
        return str(exc)
    return ""


def _stop_on_signal(signum: int, frame: FrameType | None) -> Any:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = " ".join(["python -m bench", shlex.join(sys.argv[1:] if argv is None else argv)]).strip()
    if shutil.which(wrk.WRK) is None:
        print("python -m bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    load_before = proc.load_average()
    # Also when started in the background, where SIGINT arrives ignored: Ctrl-C and kill
    # must both stop the servers.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    work = Path(tempfile.mkdtemp(prefix="soap-bridge-bench-"))
    fleet = Fleet()
    outcomes: list[Outcome] = []
    try:
        bench = Bench(args, work, fleet)
        sandbox = bench.start_sandbox()
        for row in plan(args.workers, args.store):
            if args.rows and row.name not in args.rows.split(","):
                continue
            print(f"bench: {row.name} …", file=sys.stderr, flush=True)
            clock = time.monotonic()
            outcomes.append(bench.run_row(row))
            print(f"bench: {row.name}: {report.summary(outcomes[-1], args.connections)} "
                  f"({time.monotonic() - clock:.0f} s)", file=sys.stderr, flush=True)
        print("bench: profile …", file=sys.stderr, flush=True)
        split = bench.profile(60 if args.quick else 400)
    except (RuntimeError, requests.RequestException) as exc:  # BenchError, StartError, LoadError, …
        _stop(fleet)
        print(f"python -m bench: {exc}\n(logs in {work})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _stop(fleet)
        shutil.rmtree(work, ignore_errors=True)
        print("python -m bench: interrupted", file=sys.stderr)
        return 130
    finally:
        _stop(fleet)  # also on any other error: no server outlives the bench
    results = {outcome.row.name: outcome for outcome in outcomes}
    output = Path(args.output)
    text = report.render(
        report.Context(command=command, started=started, args=args, sandbox_startup=sandbox.startup,
                       users=len(bench.users), extra_users=EXTRA_USERS, caches=shipped_caches(),
                       api_user=bench.api_username,
                       load_average=(load_before, proc.load_average())),
        outcomes, targets.evaluate(results, args.connections), split, report.kept_notes(output))
    print(text)
    if not args.no_write:
        output.write_text(text, encoding="utf-8")
        print(f"bench: written to {output}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _stop(fleet: Fleet) -> None:
    """Stop every server; a second Ctrl-C must not leave half of them running."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        fleet.stop_all()
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
