"""The `soap-bridge` command line: serve, check, passwd, sandbox."""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import getpass
import os
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from bridge import __version__, carryover
from bridge.config import (
    SANDBOX_DIRECTORY,
    Config,
    MissingSecret,
    demo_config_path,
    exposed_files,
    load_config,
    resolve_secrets,
    store_url_ok,
    url_problem,
)
from bridge.errors import BridgeError, ConfigError, Problem
from bridge.grants import commands as grants_commands
from bridge.grants.demo import export_demo_secrets

DEMO_USERNAME_ENV = "SOAP_BRIDGE_DEMO_API_USERNAME"
DEMO_KEY_ENV = "SOAP_BRIDGE_DEMO_API_KEY"
# The OneSpan Sign emulation's demo API key (examples/onespan.yaml), from its seed.
DEMO_ONESPAN_KEY_ENV = "SOAP_BRIDGE_DEMO_ONESPAN_KEY"
STATE_KEY_ENV = "SOAP_BRIDGE_STATE_KEY"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except BridgeError as exc:
        # Start-up failures the config cannot foresee (a store that will not open, …).
        print(f"soap-bridge {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soap-bridge",
        description="Serve a legacy SOAP API on its vendor's modern REST flow, driven by YAML rules.",
    )
    parser.add_argument("--version", action="version", version=f"soap-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the bridge (demo mode without --config)")
    serve.add_argument("--config", help="configuration file (default: the bundled demo)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080; 0 = any free)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    serve.add_argument("--store", help="state store URL, e.g. sqlite:///state/bridge.db")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--public-url", help="URL callers reach the bridge at (WSDL addresses)")
    serve.add_argument("--certfile", help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    # gunicorn first: it holds the slow-client deadlines (docs/performance.md#servers).
    serve.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn",
                       help="HTTP server (default gunicorn; granian: faster, for a bridge "
                            "behind a proxy that buffers requests)")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="validate config, rules and WSDL together")
    check.add_argument("--config", help="configuration file (default: the bundled demo)")
    check.set_defaults(run=_check)

    passwd = commands.add_parser("passwd", help="set a password in the local credentials file")
    passwd.add_argument("username")
    where = passwd.add_mutually_exclusive_group()
    where.add_argument("--config", help="take credentials_file from this configuration")
    where.add_argument("--file", help="the credentials file itself")
    passwd.add_argument("--algorithm", choices=["argon2id", "bcrypt"], default="argon2id")
    passwd.add_argument("--status", choices=["active", "locked", "inactive", "expired_password"],
                        default="active")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input instead of prompting")
    passwd.add_argument("--delete", action="store_true", help="remove the user instead")
    passwd.add_argument("--client", action="store_true",
                        help="USERNAME is a token-exchange client: hash its secret and print its "
                        "token_exchange entry (no file is written)")
    carryover.add_passwd_options(passwd)
    passwd.set_defaults(run=_passwd)

    report = commands.add_parser("report", help="the side-by-side comparison verdict")
    report.add_argument("--config", help="configuration file (default: the bundled demo)")
    report.add_argument("--since", help="only comparisons since: 3d, 12h, 30m or an ISO date")
    report.add_argument("--format", choices=["table", "json", "html"], default="table")
    report.add_argument("--output", help="write to this file instead of standard output")
    report.set_defaults(run=_report)

    accounts = commands.add_parser("accounts", help="a user's account contexts")
    accounts.add_argument("username")
    accounts.add_argument("--config", help="configuration file (default: the bundled demo)")
    accounts.set_defaults(run=_accounts)

    unlock = commands.add_parser("unlock", help="lift the bridge's lockout of a user")
    unlock.add_argument("username")
    unlock.add_argument("--config", help="configuration file (default: the bundled demo)")
    unlock.add_argument("--keep-tokens", action="store_true",
                        help="leave the user's tokens valid (by default they are revoked)")
    unlock.set_defaults(run=_unlock)

    sandbox = commands.add_parser("sandbox", help="run the emulated vendor services alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8081)
    sandbox.add_argument("--seed", help="seed file (default: the bundled seed)")
    sandbox.set_defaults(run=_sandbox)
    from bridge import revocation

    revocation.add_commands(commands)
    grants_commands.add_commands(commands)
    carryover.add_commands(commands)
    from bridge import migration  # promote, demote, record, replay, demo-traffic

    migration.add_commands(commands)
    return parser


# -- serve --------------------------------------------------------------------


def _prepare_metrics_dir() -> None:
    """Workers share metrics through files; the folder must be empty at each start and set
    before prometheus-client is imported, so every process (master and workers) sees it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))
    else:
        folder = tempfile.mkdtemp(prefix="soap-bridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        owner = os.getpid()

        def remove() -> None:
            # Forked workers inherit atexit handlers: only the process that made it removes it.
            if os.getpid() == owner:
                shutil.rmtree(folder, ignore_errors=True)

        atexit.register(remove)


def _serve(args: argparse.Namespace) -> int:
    _prepare_metrics_dir()
    from bridge import logs
    from bridge.app import BridgeApp
    from bridge.check import config_warnings
    from bridge.server import ReadLimits, serve
    from bridge.wiring import wire

    if bool(args.certfile) != bool(args.keyfile):
        print("soap-bridge serve: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    for flag, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
        if path and not os.path.isfile(path):
            print(f"soap-bridge serve: {flag}: no such file {path}", file=sys.stderr)
            return 2
    if args.store and not store_url_ok(args.store):
        print("soap-bridge serve: --store must be memory://, sqlite:///PATH or redis://HOST:PORT/DB",
              file=sys.stderr)
        return 2
    mistake = (_port_problem(args.port) or _count_problem("--workers", args.workers)
               or _count_problem("--threads", args.threads)
               or (url_problem(args.public_url, "--public-url") if args.public_url is not None
                   else None))
    if mistake:
        print(f"soap-bridge serve: {mistake}", file=sys.stderr)
        return 2
    config = load_config(args.config or demo_config_path())
    config = config.with_overrides(
        host=args.host, port=args.port, workers=args.workers, store=args.store,
        log_level=args.log_level, public_url=args.public_url.rstrip("/") if args.public_url
        else None,
    )
    # Bound now: a port in use is told in one line before anything starts, not by gunicorn's
    # retries.
    listener = _listen(config.host, config.port)
    logs.configure(config.log_level)
    loaded, demo_user = config, None
    if config.sandbox is not None:
        config, demo_user = _start_demo_sandbox(config)
    app = BridgeApp(wire(config, _state_key()))
    # Printed, not logged: they must show at --log-level error too.
    rules = app.wiring.plans.current().rules
    for warning in [*config_warnings(loaded, rules), *carryover.state_key_warnings(rules)]:
        print(f"soap-bridge serve: warning: {warning}", file=sys.stderr, flush=True)

    def ready(host: str, port: int) -> None:
        _print_banner(config, host, port, demo_user, tls=bool(args.certfile))

    serve(app, config.host, config.port, config.workers, args.threads, config.log_level,
          ready, args.certfile, args.keyfile,
          ReadLimits(config.header_timeout, config.body_timeout, config.max_body_bytes),
          listener=listener, server=args.server)
    return 0


def _port_problem(port: int | None) -> str | None:
    return None if port is None or 0 <= port <= 65535 else (
        f"--port must be a number from 0 to 65535, not {port}")


def _count_problem(flag: str, value: int | None) -> str | None:
    return None if value is None or value >= 1 else f"{flag} must be at least 1, not {value}"


def _listen(host: str, port: int) -> int:
    """A socket bound to host:port as gunicorn would bind it, whose descriptor goes to gunicorn.
    Not listening yet: until gunicorn listens, when the app is built, connections are refused
    rather than left waiting. Any failure is a BridgeError naming the address and why."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
        except OSError:
            listener.close()
            raise
    except OSError as exc:
        raise BridgeError(f"cannot listen on {shown}: {exc.strerror or exc}") from exc
    return listener.detach()


def _state_key() -> bytes:
    """The key sealing cached upstream tokens; shared by all workers of this process."""
    configured = os.environ.get(STATE_KEY_ENV)
    if configured:
        if len(configured) < 32:
            raise ConfigError([Problem(STATE_KEY_ENV, None,
                                       "must be at least 32 characters of random text "
                                       "(e.g. `python -c 'import secrets; "
                                       "print(secrets.token_urlsafe(32))'`)")])
        return configured.encode("utf-8")
    # Without a configured key, cached bearers are readable only by this run of the bridge.
    return secrets.token_bytes(32)


def _start_demo_sandbox(config: Config, quiet: bool = False
                        ) -> tuple[Config, tuple[str, str] | None]:
    from bridge.sandbox import bundled_directory_path, load_seed, start_in_thread

    assert config.sandbox is not None
    seed = load_seed(config.sandbox.seed)
    server = start_in_thread(seed)
    api_user = seed.api_user(config.sandbox.api_user)
    if api_user is None:
        server.shutdown()
        raise ConfigError([Problem(config.source, None,
                                   f"sandbox.api_user {config.sandbox.api_user!r} is not in the "
                                   f"sandbox seed {seed.source}")])
    # Demo credentials come from the seed; the config only names the variables.
    os.environ[DEMO_USERNAME_ENV] = api_user.username
    os.environ[DEMO_KEY_ENV] = api_user.key
    from bridge.sandbox.onespan import load_onespan_seed

    os.environ[DEMO_ONESPAN_KEY_ENV] = load_onespan_seed(None).api_keys[0].key
    export_demo_secrets()
    upstreams = {
        name: dataclasses.replace(up, base_url=server.url) if up.base_url == "sandbox" else up
        for name, up in config.upstreams.items()
    }
    legacy = config.legacy
    if legacy is not None and legacy.base_url == "sandbox":
        legacy = dataclasses.replace(legacy, base_url=server.url)
    # A var written `sandbox` (a hand-off's host, e.g. vars.onespan_url) is the sandbox's URL.
    variables = {name: server.url if value == "sandbox" else value
                 for name, value in config.vars.items()}
    directory = config.directory
    if directory.file == SANDBOX_DIRECTORY:
        directory = dataclasses.replace(directory, file=bundled_directory_path())
    sample = seed.users[0] if seed.users else None
    demo_user = (sample.username, sample.password) if sample else None
    if not quiet:
        print(f"Sandbox upstream (in-process): {server.url}", flush=True)
    return dataclasses.replace(config, upstreams=upstreams, legacy=legacy,
                               directory=directory, vars=variables), demo_user


def _print_banner(config: Config, host: str, port: int,
                  demo_user: tuple[str, str] | None, tls: bool) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    base = config.public_url or f"{'https' if tls else 'http'}://{shown}:{port}"
    print(f"soap-bridge {__version__} listening on {base} ({config.workers} workers)", flush=True)
    for served in config.served:
        print(f"WSDL: {base}{served.path}?wsdl", flush=True)
    if config.operator_keys:
        print(f"Migration console: {base}/console/ (log in with an operator key)", flush=True)
    if demo_user is not None and config.services:
        # Several services (Nmbrs): the AssureSign login below is none of them.
        print("Demo users and their tokens: the sandbox's seed (bridge/sandbox/nmbrs/seed.yaml "
              "for Nmbrs; docs/nmbrs.md)", flush=True)
        demo_user = None
    if demo_user is not None:
        username, password = demo_user
        # Escaped as XML attributes: seed values may hold quotes or ampersands.
        envelope = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<AuthenticateUser xmlns="https://www.assuresign.net/Services/DocumentNOW/Users">'
            f"<Request UserName={quoteattr(username)} "
            f"Password={quoteattr(password)}/>"
            "</AuthenticateUser></soap:Body></soap:Envelope>"
        )
        action = "https://www.assuresign.net/Services/DocumentNOW/Users/IUserService/AuthenticateUser"
        command = " ".join([
            "curl -s",
            shlex.quote(f"{base}{config.wsdl_path}/Users/text"),
            "-H", shlex.quote("Content-Type: text/xml; charset=utf-8"),
            "-H", shlex.quote(f'SOAPAction: "{action}"'),
            "--data", shlex.quote(envelope),
        ])
        print("Log in as the documented sample user:", flush=True)
        print(f"  {command}", flush=True)


# -- check --------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    from bridge.check import check_rules, config_warnings
    from bridge.soap.service import SoapService

    path = args.config or demo_config_path()
    config = load_config(path)
    service = SoapService([served.wsdl for served in config.served])
    rules, problems = check_rules(config, service)
    problems += exposed_files(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    try:
        if config.sandbox is None:  # demo mode fills its secrets from the sandbox seed
            resolve_secrets(config)
    except MissingSecret as exc:
        # Not an error here: check runs where the secrets are not (CI); serve insists on them.
        for problem in exc.problems:
            print(f"warning: {problem}", file=sys.stderr)
    for problem in config_warnings(config, rules):
        print(f"warning: {problem}", file=sys.stderr)
    operations = ", ".join(sorted(rules)) or "none"
    wsdls = ", ".join(os.path.relpath(served.wsdl) for served in config.served)
    print(f"OK: {path}: WSDL {wsdls} with "
          f"{len(service.operations)} operations; rules for {operations}.")
    return 0


# -- report and accounts --------------------------------------------------------


def _report(args: argparse.Namespace) -> int:
    import time

    from bridge.migrate.records import Recorder
    from bridge.migrate.report import parse_since, render_html, render_json, render_table, summarise
    from bridge.store import open_store

    config = load_config(args.config or demo_config_path())
    now = time.time()
    if args.since:
        try:
            since = parse_since(args.since, now)
        except ValueError as exc:
            print(f"soap-bridge report: --since: {exc}", file=sys.stderr)
            return 2
        label = args.since
    else:
        since, label = 0.0, "the first record"
    store = open_store(config.store, config.source)
    history = Recorder(store, config.side_calls.retain).history(since)
    summaries = summarise(history.records, history.drops, history.fallbacks, now)
    if args.format == "json":
        text = render_json(summaries)
    elif args.format == "html":
        text = render_html(summaries, label, now)
    else:
        text = render_table(summaries, label)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            print(f"soap-bridge report: cannot write {args.output}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        print(f"Report written to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from bridge.wiring import wire_directory

    config = load_config(args.config or demo_config_path())
    if config.sandbox is not None:
        config, _ = _start_demo_sandbox(config, quiet=True)
    found = wire_directory(config, _state_key()).lookup(args.username)
    if found is None:
        print(f"No source knows the accounts of {args.username} "
              f"(looked in: {', '.join(config.directory.sources)}).", file=sys.stderr)
        return 1
    rows = [("ContextIdentifier", "Name", "Primary")] + [
        (a["contextIdentifier"], a["name"] or "", "yes" if a["isPrimary"] else "")
        for a in found.accounts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(f"{found.username}  (source: {found.source})")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if found.user_context:
        print(f"X-AS-UserContext: {found.user_context}")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from bridge.auth.lockout import Lockout
    from bridge.store import open_store

    config = load_config(args.config or demo_config_path())
    store = open_store(config.store, config.source)
    Lockout(store, config.lockout).unlock(args.username)
    print(f"{args.username}: unlocked (failure count cleared)")
    if not args.keep_tokens:
        from bridge.revocation import revoke

        # A lock may have been an attack that got in: its tokens go with it.
        revoke(store, args.username)
    return 0


# -- passwd -------------------------------------------------------------------


def _passwd(args: argparse.Namespace) -> int:
    from bridge.auth.passwords import LocalUser, hash_password, read_credentials, write_credentials

    if args.client:
        return _client_secret(args)
    if args.learned:
        return carryover.learned_passwd(args, _read_password)
    from bridge.identity import identity

    path = args.file
    if path is None:
        config = load_config(args.config or demo_config_path())
        path = config.credentials_file
        if path is None:
            print(f"{config.source}: no credentials_file configured; give --file", file=sys.stderr)
            return 2
    users = read_credentials(path)
    key = identity(args.username)
    if args.delete:
        if users.pop(key, None) is None:
            print(f"{path}: no user {args.username}", file=sys.stderr)
            return 1
        write_credentials(path, users)
        print(f"{path}: removed {args.username}")
        return 0
    password = _read_password(args.password_stdin)
    if password is None:
        return 1
    users[key] = LocalUser(args.username.strip(), hash_password(password, args.algorithm),
                           args.status)
    write_credentials(path, users)
    print(f"{path}: {args.algorithm} hash stored for {args.username} ({args.status})")
    return 0


def _client_secret(args: argparse.Namespace) -> int:
    """passwd --client: the configuration entry of a token-exchange client, its secret hashed."""
    import yaml

    from bridge.auth.passwords import hash_password

    if args.file or args.config or args.delete or args.status != "active":
        print("soap-bridge passwd: --client writes no file; --file, --config, --status and "
              "--delete do not go with it", file=sys.stderr)
        return 2
    secret = _read_password(args.password_stdin)
    if secret is None:
        return 1
    entry = {"token_exchange": {"clients": {args.username.strip(): {
        "secret_hash": hash_password(secret, args.algorithm)}}}}
    sys.stdout.write(yaml.safe_dump(entry, sort_keys=False))
    return 0


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not _terminal():
            raise BridgeError("no terminal to ask for the password on; pipe it in with "
                              "--password-stdin")
        try:
            password = getpass.getpass("New password: ")
            repeated = getpass.getpass("Repeat it: ")
        except EOFError as exc:
            raise BridgeError("the password prompt got no answer (end of input)") from exc
        if repeated != password:
            print("The passwords differ; nothing changed.", file=sys.stderr)
            return None
    if not password:
        print("An empty password is not allowed; nothing changed.", file=sys.stderr)
        return None
    return password


def _terminal() -> bool:
    """Whether getpass has a terminal to prompt on (it tries /dev/tty, then standard input)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return True
    except OSError:
        return sys.stdin.isatty()


# -- sandbox ------------------------------------------------------------------


def _sandbox(args: argparse.Namespace) -> int:
    from bridge.sandbox import SeedError, load_seed, serve_forever

    try:
        seed = load_seed(args.seed)
    except SeedError as exc:
        print(exc, file=sys.stderr)
        return 2

    mistake = _port_problem(args.port)
    if mistake:
        print(f"soap-bridge sandbox: {mistake}", file=sys.stderr)
        return 2

    listening = False

    def ready(url: str) -> None:
        nonlocal listening
        listening = True
        print(f"Sandbox listening on {url}", flush=True)

    try:
        serve_forever(args.host, args.port, seed, ready)
    except OSError as exc:
        if listening:
            raise
        print(f"soap-bridge sandbox: cannot listen on {args.host}:{args.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
