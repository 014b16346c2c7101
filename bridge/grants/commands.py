"""`soap-bridge connect PROVIDER` (obtain a grant) and `soap-bridge nmbrs grants` (list them)."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import uuid
from typing import TYPE_CHECKING, Any

from bridge.config import Config, demo_config_path, load_config, resolve_secrets
from bridge.errors import ConfigError, Problem, StoreError
from bridge.store import open_store
from bridge.upstream.rest import RestClient

if TYPE_CHECKING:
    from bridge.grants.keeper import GrantKeeper

STATE_KEY_ENV = "SOAP_BRIDGE_STATE_KEY"
_COLUMNS = ("debtor", "users", "scopes", "access_expires", "rotated_at", "rotations", "state")


def add_commands(commands: Any) -> None:
    """Register `connect` and `nmbrs grants` on the CLI's subparsers."""
    connect_parser = commands.add_parser(
        "connect", help="obtain an OAuth2 grant (authorization code with PKCE) and store it sealed")
    connect_parser.add_argument("provider", help="the provider under grants: (e.g. nmbrs)")
    connect_parser.add_argument("--debtor", type=_debtor,
                                help="the debtor's GUID (REST's debtorId) the grant must be for")
    connect_parser.add_argument("--user", action="append", default=[], metavar="NAME",
                                help="a legacy user name that calls with this grant (repeatable)")
    connect_parser.add_argument("--config", help="configuration file")
    connect_parser.add_argument("--auto", action="store_true",
                                help="follow the authorize redirect unattended (the sandbox "
                                "consents without a person)")
    connect_parser.add_argument("--login-hint", help="the account to sign in as (default: the "
                                "first --user)")
    connect_parser.add_argument("--port", type=_port, help="loopback port for the redirect "
                                "(default: the redirect URI's, else any free one)")
    connect_parser.add_argument("--timeout", type=_timeout, default=300.0,
                                help="seconds to wait for the redirect (default 300)")
    connect_parser.set_defaults(run=_connect)

    vendor = vendor_commands(commands, "nmbrs", "Nmbrs: grants and ids")
    grants = vendor.add_parser("grants", help="list the OAuth2 grants, without secrets")
    grants.add_argument("--config", help="configuration file")
    grants.add_argument("--provider", default="nmbrs", help="the provider under grants: "
                        "(default nmbrs)")
    grants.add_argument("--format", choices=["table", "json"], default="table")
    grants.add_argument("--revoke", metavar="DEBTOR", type=_debtor, help="revoke this debtor's grant at the "
                        "identity service (with SOAP_BRIDGE_STATE_KEY) and delete it and its "
                        "users' mapping from the store")
    grants.set_defaults(run=_grants)


def _debtor(text: str) -> str:
    """A debtor as REST names it: a GUID (FACTS §4.4), lower case as the store keys it."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a debtor GUID (REST's debtorId, e.g. "
            "ba9cd002-a871-4e60-b1c1-eca7bc91d4d4; not the SOAP int)") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: any free one)")
    return port


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= 3600:  # nan fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 1 to 3600")
    return seconds


def vendor_commands(commands: Any, name: str, help_text: str) -> Any:
    """The subcommands of `soap-bridge <name>`, made by whichever module asks first (several
    modules add `nmbrs …` commands)."""
    parser = commands.choices.get(name)
    if parser is None:
        parser = commands.add_parser(name, help=help_text)
        return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def _keeper(args: argparse.Namespace, provider: str, state_key: bytes,
            with_secrets: bool = True, connecting: bool = False) -> tuple[Config, GrantKeeper]:
    config = load_config(args.config or demo_config_path())
    if provider not in config.grants:
        known = ", ".join(sorted(config.grants)) or "none"
        raise ConfigError([Problem(config.source, None, f"no grant provider {provider!r} under "
                                   f"grants: (configured: {known})")])
    # Imported here: the CLI is loaded before `serve` prepares prometheus-client's folder.
    from bridge.grants.connect import build_keepers

    if connecting and config.upstreams[config.grants[provider].upstream].base_url == "sandbox":
        raise ConfigError([Problem(config.source, None, "demo mode's sandbox runs inside `serve`: "
                                   "set auto_connect: true there instead of running connect")])
    secrets = resolve_secrets(config) if with_secrets else {}
    keepers = build_keepers(config.grants, config.upstreams, open_store(config.store,
                                                                        config.source),
                            state_key, secrets, serving=False)
    assert keepers is not None
    return config, keepers.by_name[provider]


def _connect(args: argparse.Namespace) -> int:
    key = os.environ.get(STATE_KEY_ENV, "")
    if len(key) < 32:
        # A random key would seal the refresh token for this process alone.
        print(f"soap-bridge connect: set {STATE_KEY_ENV} (at least 32 characters, the same as "
              "the bridge's): the refresh token is sealed with it", file=sys.stderr)
        return 2
    from bridge.grants.connect import ConnectError, connect

    config, keeper = _keeper(args, args.provider, key.encode("utf-8"), connecting=True)
    rest = RestClient(config.upstreams[keeper.provider.upstream])
    try:
        row = connect(keeper, rest, resolve_secrets(config), debtor=args.debtor, users=args.user,
                      auto=args.auto, login_hint=args.login_hint, port=args.port,
                      timeout=args.timeout, out=sys.stdout)
    except ConnectError as exc:
        print(f"soap-bridge connect: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"soap-bridge connect: {exc}", file=sys.stderr)
        return 1
    finally:
        rest.close()
        keeper.identity.client.close()
    users = ", ".join(row["users"]) or "no users yet (add --user NAME)"
    print(f"Connected {args.provider} debtor {row['debtor']} ({row['scopes']}); users: {users}")
    return 0


def _grants(args: argparse.Namespace) -> int:
    if args.revoke:
        return _revoke(args)
    # Listing needs no state key: nothing sealed is read.
    _, keeper = _keeper(args, args.provider, b"\0" * 32, with_secrets=False)
    try:
        rows = keeper.listing()
    except StoreError as exc:
        print(f"soap-bridge nmbrs grants: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"No {args.provider} grants: soap-bridge connect {args.provider} --debtor ID "
              "--user NAME")
        return 0
    table = [list(_COLUMNS)] + [[_shown(column, row) for column in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    for row in rows:
        if row["problem"]:
            print(f"{row['debtor']}: {row['problem']}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from bridge.grants.connect import purge

    key = os.environ.get(STATE_KEY_ENV, "")
    _, keeper = _keeper(args, args.provider, key.encode("utf-8") if key else b"\0" * 32,
                        with_secrets=bool(key))
    try:
        found, revoked = purge(keeper, args.revoke)
    except StoreError as exc:
        print(f"soap-bridge nmbrs grants: {exc}", file=sys.stderr)
        return 1
    finally:
        keeper.identity.client.close()
    if not found:
        print(f"No {args.provider} grant for debtor {args.revoke}; its users' mapping is removed")
        return 0
    print(f"Deleted the {args.provider} grant of debtor {args.revoke} from the store; "
          + ("revoked at the identity service" if revoked else
             f"NOT revoked at the identity service (without {STATE_KEY_ENV}, or it refused): "
             "revoke it there"))
    return 0


def _shown(column: str, row: dict[str, Any]) -> str:
    value = row[column]
    if column == "users":
        return ",".join(value) or "-"
    if column in ("access_expires", "rotated_at"):
        return datetime.datetime.fromtimestamp(value, datetime.UTC).strftime(
            "%Y-%m-%d %H:%M:%SZ") if value else "-"
    return str(value) if value not in (None, "") else "-"
