"""The `grants:` configuration section: one OAuth2 provider per REST upstream, read with file:line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.identity import identity
from bridge.schema import Kind, Reader, duration, flag, text
from bridge.yamlfile import LocatedDict

# `identity: sandbox`: the identity service is the upstream's own host (the sandbox serves both).
SANDBOX = "sandbox"
DEFAULT_SCOPES = ("offline_access", "company.info.read", "employee.info.read")


@dataclass(frozen=True)
class GrantProvider:
    """One identity service and the REST upstream its grants authorise."""

    name: str
    upstream: str
    identity: str
    client_id: str
    client_secret: str  # the name of a secret under secrets:, never the value
    subscription_key: str | None = None
    secondary_subscription_key: str | None = None
    subscription_header: str = "X-Subscription-Key"
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    redirect_uri: str = "http://127.0.0.1/callback"
    refresh_before: float = 300.0
    lease: float = 30.0
    wait: float = 10.0
    debtors_path: str = "/api/debtors"
    # Legacy user (as its identity) -> the debtor whose grant the user calls with.
    users: Mapping[str, str] = field(default_factory=dict)
    auto_connect: bool = False


def _url(key: str, value: Any) -> str:
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ValueError(f"{key} must be http(s)://host[:port][/path] without a user name")
    return str(value).rstrip("/") if key == "identity" else str(value)


def _identity(key: str, value: Any) -> str:
    return SANDBOX if value == SANDBOX else _url(key, value)


def _scopes(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(s, str) and s and " " not in s for s in value):
        raise ValueError(f"{key} lists scope names, e.g. [offline_access, company.info.read]")
    return tuple(value)


def _path(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{key} is a path on the upstream, starting with /")
    return value


_KINDS: dict[str, Kind] = {
    "identity": _identity, "client_id": text, "subscription_header": text, "scopes": _scopes,
    "redirect_uri": _url, "refresh_before": duration, "lease": duration, "wait": duration,
    "debtors_path": _path, "auto_connect": flag,
}
_SECRET_KEYS = ("client_secret", "subscription_key", "secondary_subscription_key")
_REQUIRED = ("upstream", "identity", "client_id", "client_secret")


def read_grants(reader: Reader, section: LocatedDict, upstreams: Mapping[str, Any],
                secrets: Mapping[str, Any]) -> dict[str, GrantProvider]:
    """Every provider under `grants:`; problems go to `reader` (file:line)."""
    providers: dict[str, GrantProvider] = {}
    by_upstream: dict[str, str] = {}
    for name, spec in section.items():
        if not isinstance(spec, LocatedDict):
            reader.problem(section, name, f"grants.{name} must be a mapping (upstream, identity, "
                           "client_id, client_secret, …)")
            continue
        values = reader.read(spec, _KINDS, also=("upstream", "users", *_SECRET_KEYS),
                             where=f" in grants.{name}")
        missing = [key for key in _REQUIRED if key not in spec]
        for key in missing:
            reader.problem(section, name, f"grants.{name} needs {key}")
        upstream = spec.get("upstream")
        if "upstream" in spec and upstream not in upstreams:
            reader.problem(spec, "upstream", f"grants.{name}.upstream {upstream!r} is not an "
                           "upstream under upstreams:")
        elif upstream in by_upstream:
            reader.problem(spec, "upstream", f"upstream {upstream!r} already has the grant "
                           f"provider {by_upstream[upstream]!r}: one provider per upstream")
        for key in _SECRET_KEYS:
            if key in spec and spec[key] not in secrets:
                # The value itself is never quoted: a secret written here must not be echoed.
                reader.problem(spec, key, f"grants.{name}.{key} names a secret under secrets: "
                               "(secret values are never written in the configuration)")
        if values.get("auto_connect") and values.get("identity") != SANDBOX:
            reader.problem(spec, "auto_connect", "auto_connect needs identity: sandbox: only the "
                           "sandbox consents without a person (demo mode)")
        deadline = getattr(upstreams.get(upstream) if isinstance(upstream, str) else None,
                           "total_deadline", None)
        lease = values.get("lease", GrantProvider.lease)
        if isinstance(deadline, float | int) and lease <= deadline:
            # A refresh still waiting for the identity service when its lease runs out lets
            # another instance spend the same refresh token: Nmbrs then ends the grant.
            reader.problem(spec, "lease" if "lease" in spec else "upstream",
                           f"grants.{name}.lease ({lease:g}s) must be longer than the deadline "
                           f"of upstream {upstream!r} ({deadline:g}s), which the identity "
                           "service is called with: else two instances can spend one refresh "
                           "token")
        users = _users(reader, spec)
        if missing or "identity" not in values or not isinstance(upstream, str):
            continue
        by_upstream[upstream] = str(name)
        named: dict[str, Any] = {key: str(spec[key]) for key in _SECRET_KEYS if key in spec}
        providers[str(name)] = GrantProvider(name=str(name), upstream=upstream, users=users,
                                             **named, **values)
    return providers


def _users(reader: Reader, spec: LocatedDict) -> dict[str, str]:
    table = spec.get("users")
    if table is None:
        return {}
    if not isinstance(table, LocatedDict) or not all(
            isinstance(debtor, str) and debtor for debtor in table.values()):
        reader.problem(spec, "users", "users maps legacy user names to debtor ids "
                       "(payroll.api@example.nl: ba9cd002-…)")
        return {}
    return {identity(str(user)): debtor.strip().lower() for user, debtor in table.items()}
