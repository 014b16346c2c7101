"""The migration commands beside the console: `promote` and `demote` (a cohort's mode by hand,
through the same overlay, audit log and metrics as the promotion rules)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bridge.config import Config, demo_config_path, load_config


def add_commands(commands: Any) -> None:
    """Register the commands on `soap-bridge`'s subparsers."""
    for name, verb in (("promote", "move up: shadow → verify → rest (fallback → rest)"),
                       ("demote", "move back: rest → fallback → verify → shadow → legacy")):
        command = commands.add_parser(name, help=f"{verb}, for the whole fleet")
        command.add_argument("operation")
        command.add_argument("--cohort", help="the cohort (default: the operation's own mode)")
        command.add_argument("--config", help="configuration file (default: the bundled demo)")
        command.add_argument("--reset", action="store_true",
                             help="go back to the configured mode instead")
        command.add_argument("--force", action="store_true",
                             help="also for an operation that changes data")
        command.set_defaults(run=_change_mode, action=name)


def _plan_source(config: Config) -> Any:
    from bridge.reload import build_plan
    from bridge.soap.service import SoapService

    plan = build_plan(config, SoapService(config.wsdl))
    return lambda: plan


def _change_mode(args: argparse.Namespace) -> int:
    from bridge.migrate.audit import Audit
    from bridge.migrate.overlay import ModeOverlay
    from bridge.migrate.promoter import Promoter
    from bridge.store import open_store

    config = load_config(args.config or demo_config_path())
    store = open_store(config.store, config.source)
    promoter = Promoter(store, ModeOverlay(store), Audit(store), _plan_source(config))
    action = "reset" if args.reset else args.action
    try:
        decided = promoter.by_hand(args.operation, args.cohort, action,
                                   f"operator (command line, {getpass.getuser()})", args.force)
    except ValueError as exc:
        print(f"soap-bridge {args.action}: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    who = f"{args.operation} cohort {args.cohort}" if args.cohort else args.operation
    print(f"{who}: {decided['from']} → {decided['to']} for every instance within a second "
          "(in the audit log)")
    return 0
