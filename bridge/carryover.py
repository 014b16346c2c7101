"""What the legacy service knows, carried into the store before it is retired: learned
verifiers (`soap-bridge passwd USER --learned`) and Nmbrs' int ↔ GUID ids (`soap-bridge
nmbrs map-ids`, from its SOAP converters)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from bridge.config import Config, demo_config_path, load_config
from bridge.errors import BridgeError, ConfigError, Fault, Problem, SoapClientError, UpstreamError

STATE_KEY_ENV = "SOAP_BRIDGE_STATE_KEY"
# Nmbrs' SOAP API v3 (FACTS §2.1): the services' paths and namespaces.
NMBRS_PATH = "/soap/v3/{service}.asmx"
NMBRS_NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"
# The converters' entity names (FACTS §2.3) and the kinds the id table keeps them under.
NMBRS_KINDS = {"Debtor": "debtor", "Company": "company", "Employee": "employee"}


def state_key() -> bytes:
    """The state key from the environment: learned verifiers are keyed and sealed with it,
    so one made up for this run would make them unreadable to the bridge."""
    configured = os.environ.get(STATE_KEY_ENV, "")
    if len(configured) < 32:
        raise ConfigError([Problem(STATE_KEY_ENV, None, "learned verifiers need the bridge's "
                                   "state key: set it (at least 32 characters) as for serve")])
    return configured.encode("utf-8")


def state_key_warnings(rules: Any) -> list[str]:
    """What `serve` warns of: rules that learn verifiers while no state key is set, so what
    they learn is sealed under a key of this run alone and lost at the next start."""
    learning = sorted(name for name, rule in rules.items()
                      if rule.verify is not None and rule.verify.learn)
    if not learning or len(os.environ.get(STATE_KEY_ENV, "")) >= 32:
        return []
    return [f"{', '.join(learning)} learn verifiers (verify.learn), but {STATE_KEY_ENV} is not "
            "set: what they learn is lost when this bridge stops, and other instances cannot "
            "read it"]


# -- passwd --learned ---------------------------------------------------------------


def add_passwd_options(passwd: argparse.ArgumentParser) -> None:
    passwd.add_argument("--learned", action="store_true",
                        help="set (or --delete) the user's learned verifier in the store, as "
                        "verify.learn keeps them: import a legacy token before the shutdown")


def learned_passwd(args: argparse.Namespace, read_secret: Callable[[bool], str | None]) -> int:
    """passwd --learned: one user's verifier in the configured store."""
    from bridge.auth.passwords import hash_password
    from bridge.auth.verifiers import LearnedVerifiers
    from bridge.store import open_store

    if args.file or args.client or args.status != "active":
        print("soap-bridge passwd: --learned writes the store of --config; --file, --client and "
              "--status do not go with it", file=sys.stderr)
        return 2
    config = load_config(args.config or demo_config_path())
    verifiers = LearnedVerifiers(open_store(config.store, config.source), state_key())
    if args.delete:
        known = verifiers.known(args.username)
        verifiers.forget(args.username)
        print(f"{config.store}: learned verifier of {args.username} "
              f"{'removed' if known else 'was not there'}")
        return 0 if known else 1
    secret = read_secret(args.password_stdin)
    if secret is None:
        return 1
    verifiers.store(args.username.strip(), hash_password(secret, args.algorithm), "import")
    print(f"{config.store}: {args.algorithm} verifier stored for {args.username}")
    return 0


# -- nmbrs map-ids ------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    """`soap-bridge nmbrs map-ids`, beside the other `nmbrs` commands."""
    from bridge.grants.commands import vendor_commands

    vendor = vendor_commands(commands, "nmbrs", "Nmbrs: grants and ids")
    map_ids = vendor.add_parser(
        "map-ids", help="copy the SOAP converters' int ↔ GUID pairs into the id table (run it "
        "before the SOAP shutdown)")
    map_ids.add_argument("--config", help="configuration file (its legacy: and store:)")
    map_ids.add_argument("--user", required=True,
                         help="a legacy API user (the SOAP header's Username) that sees the "
                         "debtors to map; its token is read from standard input or asked for")
    map_ids.add_argument("--domain", help="the environment's subdomain (the header's Domain)")
    map_ids.add_argument("--token-stdin", action="store_true",
                         help="read the API token from standard input instead of asking")
    map_ids.set_defaults(run=_map_ids)


def _map_ids(args: argparse.Namespace) -> int:
    from bridge.legacycalls import LegacyCalls
    from bridge.rules.ids import IdMap
    from bridge.store import open_store
    from bridge.upstream.legacy import LegacyClient

    config = load_config(args.config or demo_config_path())
    legacy = _legacy_endpoint(config)
    token = _read_token(args.token_stdin)
    if not token:
        print("soap-bridge nmbrs map-ids: no API token given", file=sys.stderr)
        return 2
    calls = LegacyCalls(LegacyClient(legacy), config.xml_limits)
    header = {"AuthHeaderWithDomain": {"Username": args.user, "Token": token,
                                       "Domain": args.domain}}
    table = IdMap(open_store(config.store, config.source))
    counts: dict[str, dict[str, int]] = {}
    try:
        for kind, number, guid in _nmbrs_pairs(calls, header):
            verdict = table.learn(kind, number, guid)
            by_kind = counts.setdefault(kind, {})
            by_kind[verdict] = by_kind.get(verdict, 0) + 1
    except _Refused as refused:
        print(f"soap-bridge nmbrs map-ids: {refused}", file=sys.stderr)
        return 1
    for kind in NMBRS_KINDS.values():
        found = counts.get(kind, {})
        told = ", ".join(f"{n} {verdict}" for verdict, n in sorted(found.items())) or "none"
        print(f"{kind}: {told}")
    conflicts = sum(n for found in counts.values() for v, n in found.items()
                    if v not in ("written", "known"))
    if conflicts:
        print(f"soap-bridge nmbrs map-ids: {conflicts} pair(s) not learned: the table already "
              "holds another pair for them (see the log)", file=sys.stderr)
    return 1 if conflicts else 0


class _Refused(Exception):
    """The legacy service could not be asked, or faulted: told on one line by map-ids itself,
    never answered to a caller, so no BridgeError (errors.py answers those)."""


def _legacy_endpoint(config: Config) -> Any:
    if config.legacy is None or config.legacy.base_url == "sandbox":
        raise ConfigError([Problem(config.source, None, "nmbrs map-ids asks the legacy service: "
                                   "legacy: needs the base_url of Nmbrs' SOAP API")])
    return config.legacy


def _read_token(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    if not sys.stdin.isatty():
        raise BridgeError("no terminal to ask for the token on; pipe it in with --token-stdin")
    return getpass.getpass("API token: ").strip()


def _nmbrs_pairs(calls: Any, header: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(kind, int, GUID) from Nmbrs' converters: the debtors', then each company's own pair
    and its employees'."""
    def ask(service: str, operation: str, body: dict[str, Any]) -> Any:
        try:
            answer = calls.call(NMBRS_PATH.format(service=service),
                                NMBRS_NAMESPACE.format(service=service), operation, body, header)
        except UpstreamError as exc:
            raise _Refused(f"{service}.{operation}: the legacy service is unreachable "
                           f"({exc.kind})") from exc
        except SoapClientError as exc:
            raise _Refused(f"{service}.{operation}: the answer is no SOAP") from exc
        if isinstance(answer, Fault):
            raise _Refused(f"{service}.{operation} faulted: {answer.message[:200]}")
        return (answer or {}).get(f"{operation}Result") if isinstance(answer, dict) else None

    yield from _mappings(ask("DebtorService", "Converter_GetDebtors_IntToGuid", {}))
    for company in _list(ask("CompanyService", "List_GetAll", {}), "Company"):
        company_id = company.get("ID") if isinstance(company, dict) else None
        if company_id is None:
            continue
        for entity in ("Company", "Employee"):
            yield from _mappings(ask("CompanyService", "Converter_GetByCompany_IntToGuid",
                                     {"Entity": entity, "CompanyId": company_id}))


def _mappings(convertor: Any) -> Iterator[tuple[str, Any, Any]]:
    if not isinstance(convertor, dict):
        return
    kind = NMBRS_KINDS.get(str(convertor.get("Entity")))
    if kind is None:
        return
    for mapping in _list(convertor.get("Mappings"), "Mapping"):
        if isinstance(mapping, dict):
            yield kind, mapping.get("IdInt"), mapping.get("IdGuid")


def _list(container: Any, name: str) -> list[Any]:
    items = container.get(name) if isinstance(container, dict) else None
    if items is None:
        return []
    return items if isinstance(items, list) else [items]
