"""The bridge's parts, built from the configuration once per process: store, engines,
dispatcher, side jobs, directory, JSON API, readiness, plans, rate limiter, recorder."""

from __future__ import annotations

import dataclasses
import secrets as random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.api import JsonApi
from bridge.auth.clients import TokenClients
from bridge.auth.keyring import configured_ring
from bridge.auth.lockout import Lockout
from bridge.auth.passwords import CredentialsFile
from bridge.auth.ratelimit import RateLimiter
from bridge.auth.tokens import TokenIssuer
from bridge.auth.verifiers import LearnedVerifiers
from bridge.check import load_rules
from bridge.config import Config, resolve_secrets
from bridge.console.routes import Console
from bridge.console.session import ConsoleAuth
from bridge.contexts import holders_for
from bridge.directory import ACCOUNTS_LOOKUP, Directory, DirectoryFile, LocalDirectory
from bridge.grants.connect import build_keepers
from bridge.grants.keeper import GrantKeepers
from bridge.health import Readiness
from bridge.legacycalls import LegacyCalls
from bridge.metrics import observe_upstream
from bridge.migrate.audit import Audit
from bridge.migrate.dispatch import Dispatcher
from bridge.migrate.marks import Marks
from bridge.migrate.overlay import ModeOverlay
from bridge.migrate.promoter import Promoter
from bridge.migrate.recording import Recordings
from bridge.migrate.records import Recorder
from bridge.migrate.sidecalls import SideCalls
from bridge.migrate.sidejobs import SideJobs
from bridge.proxies import TrustedProxies
from bridge.reload import PlanSource, build_plan
from bridge.rules.engine import EngineContext, RuleEngine
from bridge.rules.ids import IdMap
from bridge.rules.remembered import RememberedResults
from bridge.soap.service import SoapService
from bridge.soap.wsdl import WsdlDocument
from bridge.store import open_store
from bridge.store.base import Store
from bridge.upstream.breaker import Breaker
from bridge.upstream.legacy import LegacyClient
from bridge.upstream.rest import Endpoint, RestClient


@dataclass(frozen=True)
class Wiring:
    """What the WSGI app serves requests with; nothing in it changes after start-up but the
    plan `plans` holds."""

    config: Config
    service: SoapService
    wsdl: WsdlDocument
    plans: PlanSource
    store: Store
    dispatcher: Dispatcher
    directory: Directory
    api: JsonApi
    readiness: Readiness
    proxies: TrustedProxies
    recorder: Recorder
    side_calls: SideCalls
    # What /metrics shows beside the counters: each upstream's breaker on the request path.
    breakers: Mapping[str, Breaker]
    # The OAuth2 grants (grants:), for /readyz's warnings; None without grants:.
    grants: GrantKeepers | None = None
    # The migration console at /console/ (bridge/console).
    console: Console | None = None
    # Every WSDL served, by the path `GET <path>?WSDL` serves it at (`services:`).
    wsdls: Mapping[str, WsdlDocument] = dataclasses.field(default_factory=dict)


def wire(config: Config, state_key: bytes | None = None) -> Wiring:
    """Every part, for `soap-bridge serve`; `state_key` seals what the store keeps (random:
    readable by this process alone)."""
    service = SoapService([served.wsdl for served in config.served])
    wsdls = {served.path: WsdlDocument(served.wsdl) for served in config.served}
    wsdl = wsdls[config.served[0].path]
    plans = PlanSource(config, service, build_plan(config, service))
    secrets = resolve_secrets(config)
    store = open_store(config.store, config.source)
    tokens = TokenIssuer(store, configured_ring(config.token_keys, secrets, config.source))
    own_directory = LocalDirectory(config.directory.sources, store, config.directory.file)
    context = _engine_context(config, store, tokens, secrets, state_key or random.token_bytes(32),
                              own_directory)
    grants = build_keepers(config.grants, config.upstreams, store, context.state_key, secrets)
    context = dataclasses.replace(context, grants=grants)
    engine = RuleEngine(context)
    side = config.side_calls
    # The side path has its own connections and its own, shorter, timeouts.
    side_engine = RuleEngine(dataclasses.replace(context, upstreams=_clients(
        _capped(e, side.timeout) for e in config.upstreams.values())))
    recorder = Recorder(store, side.retain)
    limits = config.rate_limits
    rate_limiter = (RateLimiter(store, limits) if limits.per_address or limits.per_user
                    else None)
    proxies = TrustedProxies(config.trusted_proxies)
    side_calls = SideCalls(side.workers, side.queue, recorder.dropped)
    legacy = config.legacy
    side_jobs = SideJobs(
        service=service, engine=side_engine,
        legacy=LegacyClient(_capped(legacy, side.timeout)) if legacy else None,
        side_calls=side_calls, recorder=recorder, store=store, tokens=tokens,
        limits=config.xml_limits, state_key=context.state_key, noise_sample=side.noise_sample,
        fault_style=config.fault_style,
        recordings=Recordings(store, config.record, context.state_key),
    )
    audit = Audit(store)
    promoter = Promoter(store, ModeOverlay(store), audit, plans.current, legacy is not None)
    dispatcher = Dispatcher(
        service=service, engine=engine, plans=plans.current,
        legacy=LegacyClient(legacy) if legacy else None, side=side_jobs, recorder=recorder,
        tokens=tokens, limits=config.xml_limits, rate_limiter=rate_limiter, promoter=promoter,
        fault_style=config.fault_style, legacy_retired_at=config.legacy_retired_at,
    )
    directory = Directory(config.directory.sources, own_directory, engine,
                          lambda: plans.current().rules.get(ACCOUNTS_LOOKUP))
    api = JsonApi(tokens, directory, [secrets[k] for k in config.operator_keys],
                  TokenClients(config.token_clients),
                  {name: e.base_url for name, e in config.upstreams.items()},
                  rate_limiter, proxies.client)
    endpoints = list(config.upstreams.values()) + ([legacy] if legacy else [])
    console = Console(ConsoleAuth(store, [secrets[k] for k in config.operator_keys]), recorder,
                      plans.current, Marks(store, audit), audit, proxies.client, promoter)
    return Wiring(
        config=config, service=service, wsdl=wsdl, plans=plans,
        store=store, dispatcher=dispatcher, directory=directory, api=api,
        readiness=Readiness(store, endpoints, {legacy.name: config.legacy_retired_at}
                            if legacy and config.legacy_retired_at else None),
        proxies=proxies, recorder=recorder,
        side_calls=side_calls,
        breakers={name: client.breaker for name, client in context.upstreams.items()
                  if client.breaker is not None},
        grants=grants,
        console=console, wsdls=wsdls,
    )


def wire_directory(config: Config, state_key: bytes | None = None) -> Directory:
    """The account directory alone, for `soap-bridge accounts`: the WSDL is compiled and the
    rules checked only when the `rest` source needs the lookup rule."""
    store = open_store(config.store, config.source)
    own_directory = LocalDirectory(config.directory.sources, store, config.directory.file)
    lookup = None
    if "rest" in config.directory.sources:
        lookup = load_rules(config, SoapService([served.wsdl for served in config.served])
                            ).get(ACCOUNTS_LOOKUP)
    engine = RuleEngine(_engine_context(config, store, TokenIssuer(store), resolve_secrets(config),
                                        state_key or random.token_bytes(32), own_directory))
    return Directory(config.directory.sources, own_directory, engine, lambda: lookup)


def _engine_context(config: Config, store: Store, tokens: TokenIssuer,
                    secrets: Mapping[str, str], state_key: bytes,
                    own_directory: LocalDirectory) -> EngineContext:
    # verify.learn: the legacy service checks credentials until it is retired (or removed).
    legacy_calls = (LegacyCalls(LegacyClient(config.legacy), config.xml_limits,
                                config.legacy_retired_at) if config.legacy else None)
    return EngineContext(
        legacy_check=legacy_calls.check if legacy_calls else None,
        legacy_retired=legacy_calls.retired if legacy_calls else None,
        verifiers=LearnedVerifiers(store, state_key),
        ids=IdMap(store),
        upstreams=_clients(config.upstreams.values()),
        store=store,
        tokens=tokens,
        lockout=Lockout(store, config.lockout),
        secrets=secrets,
        vars=config.vars,
        token_ttl=config.token_ttl,
        state_key=state_key,
        credentials=CredentialsFile(config.credentials_file) if config.credentials_file else None,
        remembered=RememberedResults(store, state_key),
        directory=own_directory.entry,
        directory_reads=own_directory.reads,
        **holders_for(config.contexts, DirectoryFile(config.directory.file).holders
                      if config.directory.file else None),
    )


def _clients(endpoints: Iterable[Endpoint]) -> dict[str, RestClient]:
    return {endpoint.name: RestClient(endpoint, Breaker(endpoint.breaker)
                                      if endpoint.breaker.failures else None, observe_upstream)
            for endpoint in endpoints}


def _capped(endpoint: Endpoint, timeout: float) -> Endpoint:
    connect, read = min(endpoint.connect_timeout, timeout), min(endpoint.read_timeout, timeout)
    return dataclasses.replace(endpoint, connect_timeout=connect, read_timeout=read,
                               deadline=min(endpoint.total_deadline, connect + read))
