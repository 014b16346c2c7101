"""The migration commands beside the console: `promote` and `demote` (a cohort's mode by hand,
through the same overlay, audit log and metrics as the promotion rules), `record` (capture
legacy traffic for the fleet, export it), `replay` (recorded traffic against the REST side,
reported like the live comparison; `--export-tests` writes a pytest contract suite) and
`demo-traffic` (a bounded load generator for the demo configurations)."""

from __future__ import annotations

import argparse
import getpass
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from bridge.config import Config, demo_config_path, load_config
from bridge.durations import parse_duration


def add_commands(commands: Any) -> None:
    """Register the commands on `soap-bridge`'s subparsers."""
    for name, verb in (("promote", "move up: shadow → verify → rest (fallback → rest)"),
                       ("demote", "move back: rest → fallback → verify → shadow → legacy")):
        command = commands.add_parser(name, help=f"{verb}, for the whole fleet")
        command.add_argument("operation")
        command.add_argument("--cohort", help="the cohort (default: the operation's own mode)")
        _config_option(command)
        command.add_argument("--reset", action="store_true",
                             help="go back to the configured mode instead")
        command.add_argument("--force", action="store_true",
                             help="also for an operation that changes data")
        command.set_defaults(run=_change_mode, action=name)

    record = commands.add_parser("record", help="capture legacy traffic for replay (fleet-wide)")
    record.add_argument("action", choices=["start", "stop", "status", "export"])
    record.add_argument("file", nargs="?", help="export: the recording file to write")
    _config_option(record)
    record.add_argument("--for", dest="duration", default="1h",
                        help="start: how long to record (default 1h)")
    record.add_argument("--operations", help="start: comma-separated operations (default: all)")
    record.add_argument("--max-entries", type=int, default=10_000,
                        help="start: at most this many exchanges (default 10000)")
    record.add_argument("--max-age", default="7d", help="start: keep them this long (default 7d)")
    record.add_argument("--since", help="export: only exchanges since: 3d, 12h or an ISO date")
    record.set_defaults(run=_record)

    replay = commands.add_parser("replay", help="run recorded traffic against the REST side")
    replay.add_argument("recording", help="a recording file (record export), or 'store'")
    _config_option(replay)
    replay.add_argument("--mode", choices=["shadow", "rest"], default="shadow",
                        help="shadow: dry runs, as shadow mode (default); rest: as rest mode")
    replay.add_argument("--rate", type=float, help="at most this many requests a second")
    replay.add_argument("--secrets", help="YAML file: user name (or *) → password, for the "
                        "secrets the recording holds only references to")
    replay.add_argument("--force", action="store_true",
                        help="also replay operations that change data against no sandbox")
    replay.add_argument("--format", choices=["table", "json"], default="table")
    replay.add_argument("--export-tests", metavar="DIR",
                        help="write a pytest contract suite (one test per request shape) instead")
    replay.set_defaults(run=_replay)

    demo = commands.add_parser("demo-traffic", help="send a bounded stream of demo logins")
    _config_option(demo)
    demo.add_argument("--url", help="the bridge (default: the configuration's listen address)")
    demo.add_argument("--rate", type=float, default=5.0, help="logins a second (default 5)")
    demo.add_argument("--duration", default="2m", help="for how long (default 2m; at most 1h)")
    demo.set_defaults(run=_demo_traffic)


def _config_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", help="configuration file (default: the bundled demo)")


def _fail(command: str, message: str) -> int:
    print(f"soap-bridge {command}: {message}", file=sys.stderr)
    return 2


# -- promote / demote -----------------------------------------------------------------------


def _plan_source(config: Config) -> Callable[[], Any]:
    from bridge.reload import build_plan
    from bridge.soap.service import SoapService

    plan = build_plan(config, SoapService([served.wsdl for served in config.served]))
    return lambda: plan


def _change_mode(args: argparse.Namespace) -> int:
    from bridge.migrate.audit import Audit
    from bridge.migrate.overlay import ModeOverlay
    from bridge.migrate.promoter import Promoter
    from bridge.store import open_store

    config = load_config(args.config or demo_config_path())
    store = open_store(config.store, config.source)
    promoter = Promoter(store, ModeOverlay(store), Audit(store), _plan_source(config),
                        config.legacy is not None)
    action = "reset" if args.reset else args.action
    try:
        decided = promoter.by_hand(args.operation, args.cohort, action,
                                   f"operator (command line, {getpass.getuser()})", args.force)
    except ValueError as exc:
        return _fail(args.action, str(exc))
    finally:
        store.close()
    who = f"{args.operation} cohort {args.cohort}" if args.cohort else args.operation
    print(f"{who}: {decided['from']} → {decided['to']} for every instance within a second "
          "(in the audit log)")
    return 0


# -- record -----------------------------------------------------------------------------------


def _record(args: argparse.Namespace) -> int:
    from bridge.migrate.recording import Recordings, export, write_file
    from bridge.migrate.report import parse_since
    from bridge.store import open_store

    config = load_config(args.config or demo_config_path())
    store = open_store(config.store, config.source)
    recordings = Recordings(store, None, b"")
    try:
        if args.action == "start":
            try:
                seconds, max_age = parse_duration(args.duration), parse_duration(args.max_age)
            except ValueError as exc:
                return _fail("record", str(exc))
            operations = [name.strip() for name in (args.operations or "").split(",")
                          if name.strip()]
            problem = _record_problem(config, operations, seconds, args.max_entries, max_age)
            if problem:
                return _fail("record", problem)
            recordings.start(seconds, operations, args.max_entries, max_age)
            print(f"Recording {', '.join(operations) or 'every operation with a rule'} in "
                  f"legacy and shadow mode for {args.duration}, on every instance within a "
                  "second.")
        elif args.action == "stop":
            recordings.stop()
            print("Recording stopped (a `record:` setting in the configuration still records).")
        elif args.action == "status":
            found = recordings.status()
            kept = len(export(store, 0.0))
            if found is None:
                print(f"Not recording by command; {kept} exchanges kept.")
            else:
                left = max(0, int(float(found["until"]) - time.time()))
                print(f"Recording for {left} more seconds; {kept} exchanges kept.")
        else:
            if not args.file:
                return _fail("record", "export needs the FILE to write")
            since = parse_since(args.since, time.time()) if args.since else 0.0
            entries = export(store, since)
            try:
                write_file(args.file, entries)
            except OSError as exc:
                return _fail("record", f"cannot write {args.file}: {exc.strerror or exc}")
            print(f"{len(entries)} recorded exchanges written to {args.file}")
    except ValueError as exc:
        return _fail("record", str(exc))
    finally:
        store.close()
    return 0


def _record_problem(config: Config, operations: list[str], seconds: float, max_entries: int,
                    max_age: float) -> str | None:
    """What is wrong with `record start`'s options, if anything: an operation no rule
    carries would record nothing, silently."""
    if seconds <= 0 or max_age <= 0:
        return "--for and --max-age are durations of more than 0 (e.g. 30m, 1h, 7d)"
    if max_entries <= 0:
        return "--max-entries is a number of exchanges, more than 0"
    # A local or lookup rule never reaches the legacy service: nothing of it to record.
    ruled = sorted(name for name, rule in _plan_source(config)().rules.items()
                   if not rule.local and rule.lookup is None)
    unknown = [name for name in operations if name not in ruled]
    if unknown:
        return (f"no rule for {', '.join(unknown)}; operations with a rule: "
                f"{', '.join(ruled) or 'none'}")
    return None


# -- replay -----------------------------------------------------------------------------------


def replayer_for(config_path: str) -> tuple[Any, Callable[[], None]]:
    """A Replayer on the configuration's upstreams (its in-process sandbox in demo mode), and
    what closes it."""
    from bridge.cli import STATE_KEY_ENV, _start_demo_sandbox, _state_key
    from bridge.migrate.replay import Replayer
    from bridge.wiring import wire

    config = load_config(config_path)
    # Only an upstream written `sandbox` is the in-process one: a demo configuration with one
    # upstream pointed at a real tenant is no sandbox for data-changing operations.
    sandbox = config.sandbox is not None and all(
        upstream.base_url == "sandbox" for upstream in config.upstreams.values())
    if config.sandbox is not None:
        config, _ = _start_demo_sandbox(config, quiet=True)
    state_key = _state_key()
    wiring = wire(config, state_key)
    known = state_key if os.environ.get(STATE_KEY_ENV) else None
    return (Replayer(wiring.dispatcher.engine, wiring.service, wiring.plans.current,
                     wiring.store, state_key, sandbox, known), wiring.store.close)


class ContractRunner:
    """What an exported contract suite calls: the configuration's bridge parts and secrets."""

    def __init__(self, replayer: Any, secrets: Mapping[str, Any],
                 close: Callable[[], None]) -> None:
        self._replayer = replayer
        self._secrets = secrets
        self._close = close

    @classmethod
    def open(cls, config_path: str, secrets_path: str | None) -> ContractRunner:
        from bridge.migrate.replay import load_secrets

        replayer, close = replayer_for(config_path)
        return cls(replayer, load_secrets(secrets_path), close)

    def check(self, entry: Mapping[str, Any]) -> list[str]:
        """Each difference as `path: legacy … / rest …`; none when the sides agree."""
        force = os.environ.get("SOAP_BRIDGE_REPLAY_FORCE") == "1"
        record, skipped = self._replayer.one(entry, self._secrets, force=force)
        if record is None:
            return [f"not replayed: {skipped}"]
        return [f"{item['path']}: legacy {item['legacy']!r} / rest {item['rest']!r}"
                for item in record["differences"]]

    def close(self) -> None:
        self._close()


def _replay(args: argparse.Namespace) -> int:
    from bridge.migrate.recording import export, read_file
    from bridge.migrate.replay import export_tests, load_secrets
    from bridge.migrate.report import render_json, render_table, summarise
    from bridge.store import open_store

    config_path = args.config or demo_config_path()
    if args.rate is not None and not (math.isfinite(args.rate) and args.rate > 0):
        return _fail("replay", "--rate is a number of requests a second, more than 0")
    try:
        secrets = load_secrets(args.secrets)
        if args.recording == "store":
            config = load_config(config_path)
            store = open_store(config.store, config.source)
            try:
                entries = export(store, 0.0)
            finally:
                store.close()
        else:
            entries = read_file(args.recording)
    except OSError as exc:
        return _fail("replay", f"cannot read {exc.filename or args.recording}: "
                     f"{exc.strerror or exc}")
    except ValueError as exc:
        return _fail("replay", str(exc))
    if args.export_tests:
        try:
            count = export_tests(entries, args.export_tests, config_path, args.secrets)
        except OSError as exc:
            return _fail("replay", f"cannot write {args.export_tests}: {exc.strerror or exc}")
        print(f"{count} contract tests (one per request shape, from {len(entries)} recorded "
              f"exchanges) written to {args.export_tests}; run: pytest {args.export_tests}")
        return 0
    replayer, close = replayer_for(config_path)
    try:
        result = replayer.run(entries, secrets, args.mode, args.rate, args.force)
    finally:
        close()
    if entries and not result.records:
        # Every exchange skipped: an empty report would read as "nothing to compare".
        reasons = "; ".join(f"{count} {reason}" for reason, count in
                            sorted(result.skipped.items()))
        return _fail("replay", f"nothing replayed of {len(entries)} recorded exchanges "
                     f"(skipped: {reasons})")
    summaries = summarise(result.records, {}, {}, time.time())
    label = f"the replay of {len(entries)} recorded exchanges"
    if args.format == "json":
        sys.stdout.write(render_json(summaries))
    else:
        sys.stdout.write(render_table(summaries, label))
    for reason, count in sorted(result.skipped.items()):
        print(f"skipped {count}: {reason}", file=sys.stderr)
    return 0


# -- demo-traffic -----------------------------------------------------------------------------


def _demo_traffic(args: argparse.Namespace) -> int:
    from xml.sax.saxutils import quoteattr

    from bridge.errors import UpstreamError
    from bridge.sandbox import load_seed
    from bridge.upstream.legacy import LegacyClient
    from bridge.upstream.rest import Endpoint

    config = load_config(args.config or demo_config_path())
    if config.sandbox is None:
        return _fail("demo-traffic", "it logs in as the sandbox's demo users: give a demo "
                     "configuration (one with a sandbox: section), e.g. examples/console.yaml")
    try:
        seconds = parse_duration(args.duration)
    except ValueError as exc:
        return _fail("demo-traffic", str(exc))
    if not 0 < seconds <= 3600:
        return _fail("demo-traffic", f"--duration {args.duration}: more than 0, at most 1h")
    if not (math.isfinite(args.rate) and 0 < args.rate <= 100):
        return _fail("demo-traffic", f"--rate {args.rate:g}: logins a second, more than 0 "
                     "and at most 100")
    # The demo users and their passwords come from the sandbox seed, as demo mode reads them.
    users = [(user.username, user.password) for user in load_seed(config.sandbox.seed).users]
    host = "127.0.0.1" if config.host in ("0.0.0.0", "") else config.host  # noqa: S104
    url = (args.url or f"http://{host}:{config.port}").rstrip("/")
    try:
        client = LegacyClient(Endpoint("bridge", url, connect_timeout=2, read_timeout=10))
    except ValueError:
        return _fail("demo-traffic", f"--url {url}: give the bridge's http(s)://host[:port]")
    action = "https://www.assuresign.net/Services/DocumentNOW/Users/IUserService/AuthenticateUser"
    path = f"{config.wsdl_path}/Users/text"
    rng = random.Random(15)  # noqa: S311 - demo traffic, not security
    sent, statuses = 0, Counter[str]()
    started = time.monotonic()
    print(f"Logging in {args.rate:g} times a second for {args.duration} at {url} …", flush=True)
    while time.monotonic() - started < seconds:
        username, password = rng.choice(users)
        if rng.random() < 0.1:
            # A refusal now and then (compared too), for nobody the lockout could catch.
            username = "nobody@example.com"
        body = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                '<soap:Body><AuthenticateUser xmlns="https://www.assuresign.net/Services/'
                f'DocumentNOW/Users"><Request UserName={quoteattr(username)} '
                f'Password={quoteattr(password)}/></AuthenticateUser></soap:Body>'
                '</soap:Envelope>').encode()
        try:
            reply = client.forward(path, body, {"Content-Type": "text/xml; charset=utf-8",
                                                "SOAPAction": f'"{action}"'})
            statuses[str(reply.status)] += 1
        except UpstreamError as exc:
            statuses["unreachable"] += 1
            if sent == 0:
                client.close()
                return _fail("demo-traffic", f"the bridge at {url} does not answer: "
                             f"{exc.kind}")
        sent += 1
        wait = started + sent / args.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    client.close()
    shown = ", ".join(f"HTTP {status}: {count}" for status, count in sorted(statuses.items()))
    if not statuses["200"]:
        # Nothing answered as a bridge answers a login: a wrong --url, or not this bridge.
        return _fail("demo-traffic", f"none of {sent} logins was answered with HTTP 200 "
                     f"({shown}): is {url} the bridge serving {path}?")
    print(f"{sent} logins sent ({shown}). Watch them at {url}/console/")
    return 0
