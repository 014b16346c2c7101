"""Grants against a real sandbox (its Nmbrs identity service and REST API): the configuration,
the keepers built from it, and the seed's demo credentials read from the seed itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bridge.config import Config, load_config, resolve_secrets
from bridge.grants.connect import build_keepers
from bridge.grants.keeper import GrantKeepers
from bridge.sandbox import SandboxServer
from bridge.sandbox.nmbrs import load_nmbrs_seed
from bridge.store import MemoryStore
from bridge.store.base import Store
from tests.servers import write_config

STATE_KEY = b"grants-test-state-key-0123456789abcdef"
SEED = load_nmbrs_seed(None)
CLIENT = SEED.identity.clients[0]
PRIMARY, SECONDARY = SEED.subscription_keys[0], SEED.subscription_keys[1]
ACME = next(d for d in SEED.debtors if d.name == "Acme Holding")
BAKERY = next(d for d in SEED.debtors if d.name == "Bakkerij de Vries")
MASTER = next(u for u in SEED.users if u.debtor == ACME.id and not u.multiple_environments)
CONNECTOR = next(u for u in SEED.users if u.debtor == BAKERY.id)
SECRET_ENV = {"NMBRS_CLIENT_SECRET": CLIENT.client_secret, "NMBRS_KEY": PRIMARY,
              "NMBRS_KEY_2": SECONDARY}


def grants_config(workdir: Path, sandbox_url: str, **provider: Any) -> Path:
    """A bridge configuration with the sandbox as the Nmbrs REST upstream and identity service."""
    settings = {"upstream": "nmbrs", "identity": "sandbox", "client_id": CLIENT.client_id,
                "client_secret": "nmbrs_client_secret", "subscription_key": "nmbrs_key",
                "secondary_subscription_key": "nmbrs_key_2", **provider}
    base = yaml.safe_load(write_config(workdir, sandbox_url).read_text())
    base["upstreams"]["nmbrs"] = {"base_url": sandbox_url, "connect_timeout": "1s",
                                  "read_timeout": "3s", "breaker": False}
    base["secrets"].update({"nmbrs_client_secret": {"env": "NMBRS_CLIENT_SECRET"},
                            "nmbrs_key": {"env": "NMBRS_KEY"}, "nmbrs_key_2": {"env": "NMBRS_KEY_2"}})
    base["grants"] = {"nmbrs": settings}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def load(path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    from tests.servers import demo_api_user

    username, key = demo_api_user()
    for name, value in {**SECRET_ENV, "TEST_API_USERNAME": username, "TEST_API_KEY": key}.items():
        monkeypatch.setenv(name, value)
    return load_config(str(path))


def keepers(config: Config, store: Store, clock: Any = None) -> GrantKeepers:
    built = build_keepers(config.grants, config.upstreams, store, STATE_KEY,
                          resolve_secrets(config), **({"clock": clock} if clock else {}))
    assert built is not None
    return built


@pytest.fixture
def nmbrs(sandbox_thread: SandboxServer) -> SandboxServer:
    """The module's sandbox (tests/conftest.py), its grants, throttles and counts reset."""
    requests.post(f"{sandbox_thread.url}/_sandbox/reset", timeout=5).raise_for_status()
    return sandbox_thread


@pytest.fixture
def memory() -> MemoryStore:
    return MemoryStore()


def sandbox_grants(url: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = requests.get(f"{url}/_sandbox/nmbrs/grants",
                                                timeout=5).json()["grants"]
    return answer


def stats(url: str) -> dict[str, int]:
    calls: dict[str, int] = requests.get(f"{url}/_sandbox/stats", timeout=5).json()["calls"]
    return calls
