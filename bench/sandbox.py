"""The bench's upstream: the bundled sandbox seed with many more users, and its WSGI app."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from bridge.sandbox import SandboxApp, load_seed, make_app
from bridge.sandbox.seed import BUNDLED_SEED

API_USER = "bridge-demo"
SWEEP_SECONDS = 1.0
# Every tenth generated user has three accounts, like the bundled multi@example.com.
_ACCOUNTS = [
    {"context_identifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a", "name": "Example, Inc.",
     "primary": True},
    {"context_identifier": "4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb", "name": "Multi Europe",
     "primary": False},
    {"context_identifier": "06fd91ef-dab3-4d55-8b2c-214401174fbc", "name": "Multi Holdings",
     "primary": False},
]


def api_user() -> tuple[str, str]:
    """The demo API user's name and key, read from the bundled seed (never written down here)."""
    found = load_seed(None).api_user(API_USER)
    if found is None:
        raise SystemExit(f"the bundled sandbox seed has no API user {API_USER!r}")
    return found.username, found.key


def write_seed(path: Path, extra_users: int) -> list[str]:
    """The bundled seed plus `extra_users` active users; returns every active user's name."""
    bundled = resources.files("bridge.sandbox").joinpath(BUNDLED_SEED)
    seed = yaml.safe_load(bundled.read_text(encoding="utf-8"))
    for index in range(extra_users):
        seed["users"].append({
            "username": f"bench{index}@bench.example", "password": f"Bench-{index}-pass",
            "first_name": "Bench", "last_name": f"User {index}", "status": "active",
            "accounts": _ACCOUNTS if index % 10 == 9 else _ACCOUNTS[:1]})
    path.write_text(yaml.safe_dump(seed, sort_keys=False), encoding="utf-8")
    return [user.username for user in load_seed(str(path)).users if user.status == "active"]


def make_sandbox(seed_path: str) -> SandboxApp:
    return make_app(load_seed(seed_path))

