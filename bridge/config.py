"""The deployment configuration: read once, validated with file:line errors, frozen."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from bridge.auth.keyring import secret_names
from bridge.auth.lockout import LockoutPolicy
from bridge.auth.ratelimit import Limit, RateLimits
from bridge.contexts import ContextSettings, read_contexts
from bridge.errors import ConfigError, Problem
from bridge.facade.settings import FacadeSettings, SsoSettings, read_facade, upstream_problems
from bridge.grants.settings import GrantProvider, read_grants
from bridge.migrate.recording import RecordSettings, read_record
from bridge.migrate.routing import NEEDS_LEGACY, Routing, read_routing
from bridge.schema import Kind, Reader, duration, duration_or_off, flag, share, text, whole
from bridge.services import ServiceFile, fault_style, read_services
from bridge.soap.xmlparse import XmlLimits
from bridge.upstream.breaker import BreakerSettings
from bridge.upstream.rest import Endpoint
from bridge.yamlfile import LocatedDict, load_yaml

LOG_LEVELS = ("debug", "info", "warning", "error")
LEGACY_MAX_ANSWER_BYTES = 64 * 1024 * 1024


def store_url_ok(url: str) -> bool:
    """The store URLs this version can open (see bridge.store.open_store)."""
    return (url == "memory://" or url.startswith(("sqlite:///", "redis://", "rediss://"))
            or "://" not in url)


def url_problem(value: str, name: str) -> str | None:
    """What keeps `value` from being an absolute http(s)://host[:port][/path] URL, or None.
    The message never quotes the URL: a user:password@ in it must reach no terminal or log."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or (
            parts.fragment):
        return f"{name} must be http(s)://host[:port][/path]"
    if "@" in parts.netloc:
        return f"{name} must not carry a user name or password (user:password@host)"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return f"{name}: the port must be a number from 1 to 65535"
    return None


def resource_root() -> str:
    """Where wsdl/, mappings/ and examples/ live: the checkout, else the installed share/."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(checkout, "wsdl")):
        return checkout
    return os.path.join(sys.prefix, "share", "soap-bridge")


def demo_config_path() -> str:
    return os.path.join(resource_root(), "examples", "demo.yaml")


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from; the value itself is never kept in the config."""

    name: str
    env: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class SandboxSettings:
    """Demo mode: run the bundled sandbox in-process and aim `sandbox` upstreams at it."""

    seed: str | None = None
    api_user: str = "bridge-demo"


@dataclass(frozen=True)
class SideCallSettings:
    """The comparison path beside the request path: bounded, timed, never in the way."""

    queue: int = 1000
    workers: int = 2
    timeout: float = 5.0
    # Share of shadow/verify requests whose legacy side is called twice to learn noise.
    noise_sample: float = 0.0
    retain: float = 30 * 86400


# directory.file naming the directory file that comes with the sandbox seed (demo mode).
SANDBOX_DIRECTORY = "sandbox"
DIRECTORY_SOURCES = ("rest", "file", "learned")


@dataclass(frozen=True)
class DirectorySettings:
    """Where account contexts are looked up, in order: rest, file, learned."""

    sources: tuple[str, ...] = DIRECTORY_SOURCES
    file: str | None = None


@dataclass(frozen=True)
class Config:
    source: str
    wsdl: str
    wsdl_path: str = "/Services/DocumentNOW/v2/DocumentNOW.svc"
    mappings: tuple[str, ...] = ()
    store: str = "sqlite:///state/soap-bridge.sqlite3"
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    log_level: str = "info"
    token_ttl: float = 30 * 60
    # Names of secrets holding the token keys: the first seals, all open (auth/keyring.py);
    # none: a key generated once and kept in the store.
    token_keys: tuple[str, ...] = ()
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    max_body_bytes: int = XmlLimits.max_bytes
    # The shape limits of request XML; their max_bytes is max_body_bytes.
    xml_limits: XmlLimits = field(default_factory=XmlLimits)
    # How long a caller may take to send a request's headers, then its body (bridge/intake.py).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    credentials_file: str | None = None
    upstreams: dict[str, Endpoint] = field(default_factory=dict)
    secrets: dict[str, SecretRef] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    sandbox: SandboxSettings | None = None
    legacy: Endpoint | None = None
    # When the legacy service stops verifying (epoch seconds; legacy.retired_at): from then
    # on, verify.learn rules check learned verifiers instead (bridge/auth/verifiers.py).
    legacy_retired_at: float | None = None
    routing: Routing = field(default_factory=Routing)
    side_calls: SideCallSettings = field(default_factory=SideCallSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    # Names of secrets holding operator keys for the JSON API (account lookup).
    operator_keys: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # The deprecated REST callers' facade and the web-UI hand-off (bridge/facade/).
    rest_facade: FacadeSettings | None = None
    sso: SsoSettings | None = None
    # Proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # Clients of the token exchange (/v1/token): client id -> argon2id or bcrypt hash of its
    # secret. None configured: no client authentication.
    token_clients: dict[str, str] = field(default_factory=dict)
    # Secret files and the credentials file may be readable by group or others.
    allow_readable_secret_files: bool = False
    # Traffic captured for replay (`record:`, bridge/migrate/recording.py); None: only while
    # `soap-bridge record start` says so.
    record: RecordSettings | None = None
    # OAuth2 grant providers by name (grants:, bridge/grants/settings.py).
    grants: dict[str, GrantProvider] = field(default_factory=dict)
    # The WSDLs served, each at its path (`services:`); () for the one of wsdl/wsdl_path.
    services: tuple[ServiceFile, ...] = ()
    # How every Fault looks: "wcf" or "asmx" (bridge/services.py).
    fault_style: str = "wcf"
    # Who the bridge acts as for an account named without a token (`contexts:`, bridge/contexts.py).
    contexts: ContextSettings = field(default_factory=ContextSettings)

    @property
    def served(self) -> tuple[ServiceFile, ...]:
        """Every WSDL the bridge serves and its path: `services:`, else `wsdl` at `wsdl_path`."""
        return self.services or (ServiceFile(self.wsdl, self.wsdl_path),)

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# How each key of a section is read (bridge/schema.py). The defaults are the dataclasses'
# (Config, LockoutPolicy, XmlLimits, SideCallSettings, SandboxSettings, Endpoint,
# BreakerSettings): a key left out, or wrong, is simply not passed.
_LISTEN: dict[str, Kind] = {"host": text, "port": whole(0, 65535)}
_LOCKOUT: dict[str, Kind] = {
    "max_failures": whole(), "window": duration, "duration": duration,
    "max_duration": duration, "permanent_after": whole(0), "quick_login_check": duration_or_off,
    "quick_login_wait": duration}
_LIMITS: dict[str, Kind] = {
    "max_body_bytes": whole(1024), "header_timeout": duration, "body_timeout": duration}
# limits: keys that set XmlLimits (its max_bytes is max_body_bytes).
_XML_LIMITS: dict[str, Kind] = dict.fromkeys((
    "max_depth", "max_elements", "max_attributes", "max_attributes_per_element",
    "max_attribute_length", "max_namespaces"), whole())
_SIDE_CALLS: dict[str, Kind] = {
    "queue": whole(), "workers": whole(), "timeout": duration, "noise_sample": share,
    "retain": duration}
_ENDPOINT: dict[str, Kind] = {
    "connect_timeout": duration, "read_timeout": duration, "verify_tls": flag,
    "deadline": duration, "max_answer_bytes": whole(1024)}
_BREAKER: dict[str, Kind] = {"failures": whole(), "open_for": duration}
_LIMIT: dict[str, Kind] = {"limit": whole(), "window": duration}
# Top-level keys read below, each in its own way.
_SECTIONS = ("wsdl", "mappings", "listen", "tokens", "lockout", "limits", "upstreams", "secrets",
             "vars", "sandbox", "legacy", "routing", "side_calls", "directory", "operator_keys",
             "rate_limits", "trusted_proxies", "token_exchange", "grants", "services")
# An argon2id or bcrypt hash, as `soap-bridge passwd --client` makes it.
_SECRET_HASH = re.compile(r"^(\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+"
                          r"\$[A-Za-z0-9+/]+|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53})$")
_SECTIONS += ("rest_facade", "sso")  # type: ignore[assignment]  # (bridge/facade)
_SECTIONS += ("record",)  # type: ignore[assignment]  # (bridge/migrate/recording.py)
_SECTIONS += ("contexts",)  # type: ignore[assignment]  # (bridge/contexts.py)


def _log_level(key: str, value: Any) -> str:
    level = str(value).lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    return level


def _store(key: str, value: Any) -> str:
    url = str(value)
    if not store_url_ok(url):
        raise ValueError("store must be memory://, sqlite:///PATH or redis://HOST:PORT/DB, not "
                         f"{url.split('://')[0]}://…")
    return url


def _public_url(key: str, value: Any) -> str | None:
    if not value:
        return None
    wrong = url_problem(str(value), key)
    if wrong:
        raise ValueError(wrong)
    return str(value).rstrip("/")


def _moment(key: str, value: Any) -> float:
    """A point in time: an ISO 8601 date or date-time (UTC unless it says otherwise)."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{key} is a date or date-time, e.g. 2027-03-01 or "
                             "2027-03-01T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _sources(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(
            source not in DIRECTORY_SOURCES for source in value):
        raise ValueError(f"directory.sources lists some of {', '.join(DIRECTORY_SOURCES)}")
    return tuple(str(source) for source in value)


def load_config(path: str) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    data = load_yaml(path)
    if data is None:
        data = LocatedDict()
        data.key_lines = {}
    if not isinstance(data, LocatedDict):
        raise ConfigError([Problem(path, 1, "the configuration must be a YAML mapping")])
    reader = Reader(path)
    base = os.path.dirname(os.path.abspath(path))

    def relative(value: str) -> str:
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))

    def in_folder(key: str, value: Any) -> str | None:
        """A path relative to the configuration's folder; none for an empty value."""
        return relative(str(value)) if value else None

    settings = reader.read(data, {
        "wsdl_path": text, "store": _store, "public_url": _public_url, "workers": whole(),
        "log_level": _log_level, "credentials_file": in_folder,
        "allow_readable_secret_files": flag, "fault_style": fault_style,
    }, also=_SECTIONS)

    services = read_services(reader, data, relative)
    if services:
        settings["wsdl_path"] = services[0].path
    wsdl = services[0].wsdl if services else relative(str(data.get(
        "wsdl", os.path.join(resource_root(), "wsdl", "DocumentNOW.wsdl"))))
    if not services and not os.path.isfile(wsdl):
        reader.problem(data, "wsdl", f"WSDL file not found: {wsdl}")

    mappings_raw = data.get("mappings", [os.path.join(resource_root(), "mappings", "assuresign")])
    if isinstance(mappings_raw, str):
        mappings_raw = [mappings_raw]
    mappings: list[str] = []
    for index, item in enumerate(mappings_raw if isinstance(mappings_raw, list) else []):
        folder = relative(str(item))
        if not os.path.exists(folder):
            reader.problem(mappings_raw, index, f"mappings folder not found: {folder}")
        mappings.append(folder)

    settings |= reader.read(reader.section(data, "listen"), _LISTEN)
    token_section = reader.section(data, "tokens")
    tokens = reader.read(token_section, {"ttl": duration, "keys": secret_names})
    if "ttl" in tokens:
        settings["token_ttl"] = tokens["ttl"]
    lockout = LockoutPolicy(**reader.read(reader.section(data, "lockout"), _LOCKOUT))
    limits = reader.read(reader.section(data, "limits"), {**_LIMITS, **_XML_LIMITS})
    xml_limits = {key: limits.pop(key) for key in _XML_LIMITS if key in limits}
    if "max_body_bytes" in limits:
        xml_limits["max_bytes"] = limits["max_body_bytes"]
    settings |= limits

    upstreams: dict[str, Endpoint] = {}
    upstream_section = reader.section(data, "upstreams")
    for name, spec in upstream_section.items():
        endpoint = _endpoint(reader, upstream_section, name, spec, f"upstream {name!r}")
        if endpoint is not None:
            upstreams[name] = endpoint
    legacy = _endpoint(reader, data, "legacy", data["legacy"], "legacy") if "legacy" in data else None
    legacy_retired_at = None
    if legacy is not None and "retired_at" in data["legacy"]:
        # Read here, not by _endpoint: an Endpoint has no retirement (the key is allowed there).
        try:
            legacy_retired_at = _moment("retired_at", data["legacy"]["retired_at"])
        except ValueError as exc:
            reader.problem(data["legacy"], "retired_at", str(exc))

    routing, routing_problems = read_routing(data.get("routing"), path)
    reader.problems.extend(routing_problems)
    # Operations without a rule fall back to a Fault when there is no legacy service;
    # a mode that needs it is a mistake.
    needing = sorted(routing.rule_modes() & NEEDS_LEGACY)
    if legacy is None and needing:
        reader.problem(data, "routing", f"routing uses {', '.join(needing)} mode, which needs "
                       "the legacy service, but no legacy: endpoint is configured")

    side_calls = SideCallSettings(**reader.read(reader.section(data, "side_calls"), _SIDE_CALLS))

    def directory_file(key: str, value: Any) -> str | None:
        # `sandbox`: the file that comes with the sandbox seed, found in demo mode.
        return SANDBOX_DIRECTORY if value == SANDBOX_DIRECTORY else in_folder(key, value)

    directory_section = reader.section(data, "directory")
    directory = DirectorySettings(**reader.read(
        directory_section, {"sources": _sources, "file": directory_file}))

    secrets: dict[str, SecretRef] = {}
    secret_section = reader.section(data, "secrets")
    for name, spec in secret_section.items():
        if not isinstance(spec, LocatedDict) or set(spec) not in ({"env"}, {"file"}):
            reader.problem(
                secret_section,
                name,
                f"secret {name!r} must be {{env: VARIABLE}} or {{file: PATH}}; "
                "secret values are never written in the configuration",
            )
            continue
        file = spec.get("file")
        secrets[name] = SecretRef(
            name, env=spec.get("env"), file=relative(str(file)) if file else None
        )

    sandbox = None
    if "sandbox" in data:
        sandbox = SandboxSettings(**reader.read(reader.section(data, "sandbox"),
                                                {"seed": in_folder, "api_user": text}))
    if directory.file == SANDBOX_DIRECTORY and sandbox is None:
        reader.problem(directory_section, "file", "directory.file: sandbox is the sandbox's "
                       "directory file, for demo mode: it needs a sandbox: section")

    settings["token_keys"] = tokens.get("keys", ())
    for name in settings["token_keys"]:
        if name not in secrets:
            reader.problem(token_section, "keys", f"token key {name!r} is not a secret defined "
                           "under secrets:")
    operator_keys = data.get("operator_keys") or []
    if not isinstance(operator_keys, list):
        reader.problem(data, "operator_keys", "operator_keys lists names of secrets")
        operator_keys = []
    for index, name in enumerate(operator_keys):
        if name not in secrets:
            reader.problem(operator_keys, index, f"operator key {name!r} is not a secret defined "
                           "under secrets:")
    limits_section = reader.section(data, "rate_limits")
    reader.unknown_keys(limits_section, ("per_address", "per_user"))
    rate_limits = RateLimits(per_address=_limit(reader, limits_section, "per_address"),
                             per_user=_limit(reader, limits_section, "per_user"))
    proxies = data.get("trusted_proxies") or []
    if not isinstance(proxies, list):
        reader.problem(data, "trusted_proxies", "trusted_proxies lists addresses or networks")
        proxies = []
    for index, proxy in enumerate(proxies):
        try:
            ipaddress.ip_network(str(proxy), strict=False)
        except ValueError:
            reader.problem(proxies, index, f"{proxy!r} is not an address or network")
    token_clients = _token_clients(reader, reader.section(data, "token_exchange"))
    grants = read_grants(reader, reader.section(data, "grants"), upstreams, secrets)
    rest_facade, sso = read_facade(reader, data)
    upstream_problems(reader, data, set(upstreams))
    variables = reader.section(data, "vars")
    config = Config(
        source=path,
        wsdl=wsdl,
        mappings=tuple(mappings),
        lockout=lockout,
        xml_limits=XmlLimits(**xml_limits),
        upstreams=upstreams,
        secrets=secrets,
        vars=dict(variables),
        sandbox=sandbox,
        legacy=legacy,
        legacy_retired_at=legacy_retired_at,
        routing=routing,
        side_calls=side_calls,
        directory=directory,
        operator_keys=tuple(str(k) for k in operator_keys),
        rate_limits=rate_limits,
        rest_facade=rest_facade,
        sso=sso,
        trusted_proxies=tuple(str(p) for p in proxies),
        token_clients=token_clients,
        grants=grants,
        services=services,
        **settings,
    )
    config = replace(config, record=read_record(reader, data))
    config = replace(config, contexts=read_contexts(reader, data))
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


def _endpoint(reader: Reader, container: LocatedDict, name: str, spec: Any,
              label: str) -> Endpoint | None:
    if not isinstance(spec, LocatedDict) or not isinstance(spec.get("base_url"), str):
        reader.problem(container, name, f"{label} needs a base_url")
        return None
    values = reader.read(spec, _ENDPOINT, also=("base_url", "breaker", *(
        ("retired_at",) if label == "legacy" else ())), noun="upstream setting")
    wrong = url_problem(spec["base_url"], "base_url")
    if spec["base_url"] != "sandbox" and wrong:
        reader.problem(spec, "base_url", wrong + (" (or sandbox, in demo mode)"
                                                  if wrong.endswith("[/path]") else ""))
    if label == "legacy":
        # The legacy service passes whole documents through; a REST answer is small.
        values.setdefault("max_answer_bytes", LEGACY_MAX_ANSWER_BYTES)
    return Endpoint(name=name, base_url=spec["base_url"].rstrip("/"),
                    breaker=_breaker(reader, spec), **values)


def _breaker(reader: Reader, spec: LocatedDict) -> BreakerSettings:
    value = spec.get("breaker", True)
    if value is False:
        return BreakerSettings(failures=0)
    if value is True:
        return BreakerSettings()
    if not isinstance(value, LocatedDict):
        reader.problem(spec, "breaker", "breaker is false, or {failures: N, open_for: 30s}")
        return BreakerSettings()
    return BreakerSettings(**reader.read(value, _BREAKER, noun="breaker setting"))


def _limit(reader: Reader, data: LocatedDict, key: str) -> Limit | None:
    spec = data.get(key)
    if spec is None:
        return None
    if not isinstance(spec, LocatedDict) or set(spec) != set(_LIMIT):
        reader.problem(data, key, f"{key} takes {{limit: N, window: 1m}}")
        return None
    values = reader.read(spec, _LIMIT)
    return Limit(**values) if len(values) == len(_LIMIT) else None


def _token_clients(reader: Reader, section: LocatedDict) -> dict[str, str]:
    reader.unknown_keys(section, ("clients",))
    clients = reader.section(section, "clients")
    hashes: dict[str, str] = {}
    for client_id, spec in clients.items():
        hashed = spec.get("secret_hash") if isinstance(spec, LocatedDict) else None
        if not isinstance(spec, LocatedDict) or set(spec) != {"secret_hash"} or not (
                isinstance(hashed, str) and _SECRET_HASH.match(hashed)):
            # Never the value: a secret written here by mistake must not be echoed.
            reader.problem(clients, client_id, f"token_exchange client {client_id!r} takes "
                           "{secret_hash: <argon2id or bcrypt hash>}, as `soap-bridge passwd "
                           f"{client_id} --client` prints it")
            continue
        hashes[str(client_id)] = hashed
    return hashes


def exposed_files(config: Config) -> list[Problem]:
    """Secret files and the credentials file that group or others can read, unless
    allow_readable_secret_files accepts them (a mounted secret is often 0644)."""
    if config.allow_readable_secret_files:
        return []
    files = [(f"secret {ref.name!r}", ref.file) for ref in config.secrets.values() if ref.file]
    if config.credentials_file:
        files.append(("credentials_file", config.credentials_file))
    problems: list[Problem] = []
    for label, path in files:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue  # a missing file is told where it is read
        if mode & 0o044:
            problems.append(Problem(config.source, None, (
                f"{label}: {path} is readable by group or others (mode {mode:04o}); chmod 600 "
                "it, or set allow_readable_secret_files: true")))
    return problems


class MissingSecret(ConfigError):
    """A secret the rules need is not available in the environment or its file."""


def resolve_secrets(config: Config) -> dict[str, str]:
    """Read every secret now, at start-up, so a missing one (or one others can read) stops
    the bridge early."""
    exposed = exposed_files(config)
    if exposed:
        raise ConfigError(exposed)
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for ref in config.secrets.values():
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if not value:
                problems.append(
                    Problem(config.source, None,
                            f"secret {ref.name!r}: environment variable {ref.env} is not set")
                )
                continue
        else:
            assert ref.file is not None
            try:
                with open(ref.file, encoding="utf-8") as handle:
                    value = handle.read().strip()
            except OSError as exc:
                problems.append(
                    Problem(config.source, None,
                            f"secret {ref.name!r}: cannot read {ref.file}: {exc.strerror}")
                )
                continue
        values[ref.name] = value
    if problems:
        raise MissingSecret(problems)
    return values
