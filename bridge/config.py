"""The deployment configuration: read once, validated with file:line errors, frozen."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from bridge.auth.ratelimit import Limit, RateLimits
from bridge.durations import parse_duration
from bridge.errors import ConfigError, Problem
from bridge.migrate.routing import NEEDS_LEGACY, Routing, read_routing
from bridge.soap.xmlparse import XmlLimits
from bridge.upstream.breaker import BreakerSettings
from bridge.upstream.rest import Endpoint
from bridge.yamlfile import LocatedDict, line_of, load_yaml

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
class LockoutSettings:
    max_failures: int = 5
    window: float = 15 * 60
    duration: float = 15 * 60
    max_duration: float = 60 * 60
    permanent_after: int = 0
    quick_login_check: float = 0.0
    quick_login_wait: float = 60.0


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


@dataclass(frozen=True)
class DirectorySettings:
    """Where account contexts are looked up, in order: rest, file, learned."""

    sources: tuple[str, ...] = ("rest", "file", "learned")
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
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    max_body_bytes: int = 1024 * 1024
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
    routing: Routing = field(default_factory=Routing)
    side_calls: SideCallSettings = field(default_factory=SideCallSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    # Names of secrets holding operator keys for the JSON API (account lookup).
    operator_keys: tuple[str, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # Proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # Clients of the token exchange (/v1/token): client id -> argon2id or bcrypt hash of its
    # secret. None configured: no client authentication.
    token_clients: dict[str, str] = field(default_factory=dict)
    # Secret files and the credentials file may be readable by group or others.
    allow_readable_secret_files: bool = False

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# limits: keys that set XmlLimits, each a whole number ≥ 1.
_XML_LIMITS = ("max_depth", "max_elements", "max_attributes", "max_attributes_per_element",
               "max_attribute_length", "max_namespaces")

_TOP_KEYS = {
    "wsdl", "wsdl_path", "mappings", "store", "public_url", "listen", "workers", "log_level",
    "tokens", "lockout", "limits", "credentials_file", "upstreams", "secrets", "vars", "sandbox",
    "legacy", "routing", "side_calls", "directory", "operator_keys", "rate_limits",
    "trusted_proxies", "token_exchange", "allow_readable_secret_files",
}
# An argon2id or bcrypt hash, as `soap-bridge passwd --client` makes it.
_SECRET_HASH = re.compile(r"^(\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+"
                          r"\$[A-Za-z0-9+/]+|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53})$")
DIRECTORY_SOURCES = ("rest", "file", "learned")


class _Reader:
    """Collects every problem instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, container: Any, key: str | int, message: str) -> None:
        self.problems.append(Problem(self.source, line_of(container, key), message))

    def section(self, data: LocatedDict, key: str) -> LocatedDict:
        value = data.get(key)
        if value is None:
            empty = LocatedDict()
            empty.key_lines = {}
            empty.line = data.line_of(key)
            return empty
        if not isinstance(value, dict):
            self.problem(data, key, f"{key} must be a mapping")
            empty = LocatedDict()
            empty.key_lines = {}
            return empty
        return value  # type: ignore[return-value]

    def duration(self, data: LocatedDict, key: str, default: float) -> float:
        if key not in data:
            return default
        try:
            seconds = parse_duration(data[key])
        except ValueError as exc:
            self.problem(data, key, f"{key}: {exc}")
            return default
        if seconds <= 0:
            self.problem(data, key, f"{key} must be positive")
            return default
        return seconds

    def endpoint(self, container: Any, name: str, spec: Any) -> Endpoint | None:
        if not isinstance(spec, LocatedDict) or not isinstance(spec.get("base_url"), str):
            label = "legacy" if container.get("legacy") is spec else f"upstream {name!r}"
            self.problem(container, name, f"{label} needs a base_url")
            return None
        for key in spec:
            if key not in ("base_url", "connect_timeout", "read_timeout", "verify_tls", "breaker",
                           "deadline", "max_answer_bytes"):
                self.problem(spec, key, f"unknown upstream setting {key!r}")
        wrong = url_problem(spec["base_url"], "base_url")
        if spec["base_url"] != "sandbox" and wrong:
            self.problem(spec, "base_url", wrong + (" (or sandbox, in demo mode)"
                                                    if wrong.endswith("[/path]") else ""))
        return Endpoint(
            name=name,
            base_url=spec["base_url"].rstrip("/"),
            connect_timeout=self.duration(spec, "connect_timeout", 3.0),
            read_timeout=self.duration(spec, "read_timeout", 10.0),
            verify_tls=self.flag(spec, "verify_tls", True),
            breaker=self.breaker(spec),
            deadline=self.duration(spec, "deadline", 0.0) or None,
            # The legacy service passes whole documents through; a REST answer is small.
            max_answer_bytes=self.integer(spec, "max_answer_bytes", (
                LEGACY_MAX_ANSWER_BYTES if container.get("legacy") is spec
                else Endpoint.max_answer_bytes), minimum=1024),
        )

    def breaker(self, spec: LocatedDict) -> BreakerSettings:
        value = spec.get("breaker", True)
        if value is False:
            return BreakerSettings(failures=0)
        if value is True:
            return BreakerSettings()
        if not isinstance(value, LocatedDict):
            self.problem(spec, "breaker", "breaker is false, or {failures: N, open_for: 30s}")
            return BreakerSettings()
        for key in value:
            if key not in ("failures", "open_for"):
                self.problem(value, key, f"unknown breaker setting {key!r} (known: failures, "
                             "open_for)")
        return BreakerSettings(failures=self.integer(value, "failures", 5),
                               open_for=self.duration(value, "open_for", 30.0))

    def limit(self, data: LocatedDict, key: str) -> Limit | None:
        spec = data.get(key)
        if spec is None:
            return None
        if not isinstance(spec, LocatedDict) or set(spec) != {"limit", "window"}:
            self.problem(data, key, f"{key} takes {{limit: N, window: 1m}}")
            return None
        return Limit(self.integer(spec, "limit", 60), self.duration(spec, "window", 60.0))

    def flag(self, data: LocatedDict, key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(data, key, f"{key} must be true or false (unquoted)")
            return default
        return value

    def integer(self, data: LocatedDict, key: str, default: int, minimum: int = 1,
                maximum: int | None = None) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
                maximum is not None and value > maximum):
            self.problem(data, key, f"{key} must be a whole number ≥ {minimum}" + (
                f" and ≤ {maximum}" if maximum is not None else ""))
            return default
        return value


def load_config(path: str) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    data = load_yaml(path)
    if data is None:
        data = LocatedDict()
        data.key_lines = {}
    if not isinstance(data, LocatedDict):
        raise ConfigError([Problem(path, 1, "the configuration must be a YAML mapping")])
    reader = _Reader(path)
    base = os.path.dirname(os.path.abspath(path))

    def relative(value: str) -> str:
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))

    for key in data:
        if key not in _TOP_KEYS:
            reader.problem(data, key, f"unknown setting {key!r}")

    wsdl = relative(str(data.get("wsdl", os.path.join(resource_root(), "wsdl", "DocumentNOW.wsdl"))))
    if not os.path.isfile(wsdl):
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

    listen = reader.section(data, "listen")
    tokens = reader.section(data, "tokens")
    lockout = reader.section(data, "lockout")
    limits = reader.section(data, "limits")
    for section, known in ((listen, {"host", "port"}), (tokens, {"ttl"}),
                           (lockout, {"max_failures", "window", "duration", "max_duration",
                                      "permanent_after", "quick_login_check",
                                      "quick_login_wait"}),
                           (limits, {"max_body_bytes", "header_timeout", "body_timeout",
                                     *_XML_LIMITS})):
        for key in section:
            if key not in known:
                reader.problem(section, key, f"unknown setting {key!r} (known: "
                               f"{', '.join(sorted(known))})")
    log_level = str(data.get("log_level", Config.log_level)).lower()
    if log_level not in LOG_LEVELS:
        reader.problem(data, "log_level", f"log_level must be one of {', '.join(LOG_LEVELS)}")
        log_level = Config.log_level
    store = str(data.get("store", Config.store))
    if not store_url_ok(store):
        reader.problem(data, "store", "store must be memory://, sqlite:///PATH or "
                       f"redis://HOST:PORT/DB, not {store.split('://')[0]}://…")

    upstreams: dict[str, Endpoint] = {}
    upstream_section = reader.section(data, "upstreams")
    for name, spec in upstream_section.items():
        endpoint = reader.endpoint(upstream_section, name, spec)
        if endpoint is not None:
            upstreams[name] = endpoint
    legacy = reader.endpoint(data, "legacy", data["legacy"]) if "legacy" in data else None

    routing, routing_problems = read_routing(data.get("routing"), path)
    reader.problems.extend(routing_problems)
    # Operations without a rule fall back to a Fault when there is no legacy service;
    # a mode that needs it is a mistake.
    needing = sorted(routing.rule_modes() & NEEDS_LEGACY)
    if legacy is None and needing:
        reader.problem(data, "routing", f"routing uses {', '.join(needing)} mode, which needs "
                       "the legacy service, but no legacy: endpoint is configured")

    side = reader.section(data, "side_calls")
    for key in side:
        if key not in ("queue", "workers", "timeout", "noise_sample", "retain"):
            reader.problem(side, key, f"unknown setting {key!r} (known: noise_sample, queue, "
                           "retain, timeout, workers)")
    noise_sample = side.get("noise_sample", 0.0)
    if isinstance(noise_sample, bool) or not isinstance(noise_sample, int | float) or not (
            0 <= noise_sample <= 1):
        reader.problem(side, "noise_sample", "noise_sample is a share from 0 to 1")
        noise_sample = 0.0
    side_calls = SideCallSettings(
        queue=reader.integer(side, "queue", 1000),
        workers=reader.integer(side, "workers", 2),
        timeout=reader.duration(side, "timeout", 5.0),
        noise_sample=float(noise_sample),
        retain=reader.duration(side, "retain", 30 * 86400),
    )

    directory_section = reader.section(data, "directory")
    for key in directory_section:
        if key not in ("sources", "file"):
            reader.problem(directory_section, key, f"unknown setting {key!r} (known: file, sources)")
    sources = directory_section.get("sources", list(DIRECTORY_SOURCES))
    if not isinstance(sources, list) or not sources or any(
            s not in DIRECTORY_SOURCES for s in sources):
        reader.problem(directory_section, "sources",
                       f"directory.sources lists some of {', '.join(DIRECTORY_SOURCES)}")
        sources = list(DIRECTORY_SOURCES)
    directory_file = directory_section.get("file")
    directory = DirectorySettings(
        sources=tuple(str(s) for s in sources),
        # `sandbox`: the file that comes with the sandbox seed, found in demo mode.
        file=(SANDBOX_DIRECTORY if directory_file == SANDBOX_DIRECTORY
              else relative(str(directory_file)) if directory_file else None),
    )

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
        section = reader.section(data, "sandbox")
        for key in section:
            if key not in ("seed", "api_user"):
                reader.problem(section, key, f"unknown setting {key!r} (known: api_user, seed)")
        seed = section.get("seed")
        sandbox = SandboxSettings(
            seed=relative(str(seed)) if seed else None,
            api_user=str(section.get("api_user", "bridge-demo")),
        )
    if directory.file == SANDBOX_DIRECTORY and sandbox is None:
        reader.problem(directory_section, "file", "directory.file: sandbox is the sandbox's "
                       "directory file, for demo mode: it needs a sandbox: section")

    operator_keys = data.get("operator_keys") or []
    if not isinstance(operator_keys, list):
        reader.problem(data, "operator_keys", "operator_keys lists names of secrets")
        operator_keys = []
    for index, name in enumerate(operator_keys):
        if name not in secrets:
            reader.problem(operator_keys, index, f"operator key {name!r} is not a secret defined "
                           "under secrets:")
    limits_section = reader.section(data, "rate_limits")
    for key in limits_section:
        if key not in ("per_address", "per_user"):
            reader.problem(limits_section, key, f"unknown setting {key!r} (known: per_address, "
                           "per_user)")
    rate_limits = RateLimits(per_address=reader.limit(limits_section, "per_address"),
                             per_user=reader.limit(limits_section, "per_user"))
    proxies = data.get("trusted_proxies") or []
    if not isinstance(proxies, list):
        reader.problem(data, "trusted_proxies", "trusted_proxies lists addresses or networks")
        proxies = []
    for index, proxy in enumerate(proxies):
        try:
            ipaddress.ip_network(str(proxy), strict=False)
        except ValueError:
            reader.problem(proxies, index, f"{proxy!r} is not an address or network")
    public_url = data.get("public_url")
    wrong = url_problem(str(public_url), "public_url") if public_url else None
    if wrong:
        reader.problem(data, "public_url", wrong)
    token_clients = _token_clients(reader, reader.section(data, "token_exchange"))
    credentials = data.get("credentials_file")
    variables = reader.section(data, "vars")
    max_body_bytes = reader.integer(limits, "max_body_bytes", 1024 * 1024, minimum=1024)
    config = Config(
        source=path,
        wsdl=wsdl,
        wsdl_path=str(data.get("wsdl_path", Config.wsdl_path)),
        mappings=tuple(mappings),
        store=store,
        public_url=str(data["public_url"]).rstrip("/") if data.get("public_url") else None,
        host=str(listen.get("host", Config.host)),
        port=reader.integer(listen, "port", Config.port, minimum=0, maximum=65535),
        workers=reader.integer(data, "workers", Config.workers),
        log_level=log_level,
        token_ttl=reader.duration(tokens, "ttl", Config.token_ttl),
        lockout=LockoutSettings(
            max_failures=reader.integer(lockout, "max_failures", 5),
            window=reader.duration(lockout, "window", 15 * 60),
            duration=reader.duration(lockout, "duration", 15 * 60),
            max_duration=reader.duration(lockout, "max_duration", 60 * 60),
            permanent_after=reader.integer(lockout, "permanent_after", 0, minimum=0),
            quick_login_check=(reader.duration(lockout, "quick_login_check", 1.0)
                               if lockout.get("quick_login_check") else 0.0),
            quick_login_wait=reader.duration(lockout, "quick_login_wait", 60.0),
        ),
        max_body_bytes=max_body_bytes,
        xml_limits=XmlLimits(max_bytes=max_body_bytes, **{
            key: reader.integer(limits, key, getattr(XmlLimits, key)) for key in _XML_LIMITS}),
        header_timeout=reader.duration(limits, "header_timeout", Config.header_timeout),
        body_timeout=reader.duration(limits, "body_timeout", Config.body_timeout),
        credentials_file=relative(str(credentials)) if credentials else None,
        upstreams=upstreams,
        secrets=secrets,
        vars=dict(variables),
        sandbox=sandbox,
        legacy=legacy,
        routing=routing,
        side_calls=side_calls,
        directory=directory,
        operator_keys=tuple(str(k) for k in operator_keys),
        rate_limits=rate_limits,
        trusted_proxies=tuple(str(p) for p in proxies),
        token_clients=token_clients,
        allow_readable_secret_files=reader.flag(data, "allow_readable_secret_files", False),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


def _token_clients(reader: _Reader, section: LocatedDict) -> dict[str, str]:
    for key in section:
        if key != "clients":
            reader.problem(section, key, f"unknown setting {key!r} (known: clients)")
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
