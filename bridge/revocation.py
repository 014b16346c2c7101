"""`soap-bridge revoke USER`: refuse every AuthenticationToken of a user issued until now."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bridge.auth.tokens import revoke_user
from bridge.config import demo_config_path, load_config
from bridge.store import open_store


def add_commands(commands: Any) -> None:
    """Register `revoke` on the `soap-bridge` command's subparsers."""
    revoke = commands.add_parser(
        "revoke", help="refuse every token of a user issued until now, on every instance")
    revoke.add_argument("username")
    revoke.add_argument("--config", help="configuration file (default: the bundled demo)")
    revoke.set_defaults(run=_revoke)


def _revoke(args: argparse.Namespace) -> int:
    config = load_config(args.config or demo_config_path())
    store = open_store(config.store, config.source)
    try:
        revoke(store, args.username)
    finally:
        store.close()
    return 0


def revoke(store: Any, username: str) -> None:
    """Set the user's "not before" mark and say what it does (also for `soap-bridge unlock`)."""
    at = time.time()
    revoke_user(store, username, at)
    print(f"{username}: tokens issued until {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(at))} "
          "UTC are refused from their next use (every instance on this store)")
