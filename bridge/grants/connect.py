"""Obtaining a grant: the authorization-code flow with PKCE, the debtor it is for, and the
sealed tokens and user mapping stored; and the keepers built from the configuration."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from bridge.auth.seal import seal, unseal
from bridge.errors import StoreError, UpstreamError
from bridge.grants import records
from bridge.grants.callback import Callback
from bridge.grants.keeper import GrantKeeper, GrantKeepers
from bridge.grants.oauth import IdentityService, TokenRefused, TokenSet
from bridge.grants.settings import SANDBOX, GrantProvider
from bridge.identity import identity
from bridge.rules.calls import GRANT_MISSING, GrantRefused
from bridge.store.base import Store
from bridge.upstream.identity import IdentityClient
from bridge.upstream.rest import Endpoint, RestClient

log = logging.getLogger("bridge.grants")

# How long two instances wait for one auto-connect of a user (demo mode).
_AUTO_CONNECT_SECONDS = 30.0


class ConnectError(Exception):
    """`connect` could not obtain or store the grant; the message says why (no secret in it).
    Told by the command in one line, never answered to a caller (not a BridgeError)."""


def identity_endpoint(provider: GrantProvider, upstream: Endpoint) -> Endpoint:
    """The identity service, reached with the REST upstream's timeouts; `sandbox`: the
    upstream's own base URL (the sandbox serves both)."""
    base = upstream.base_url if provider.identity == SANDBOX else provider.identity
    return dataclasses.replace(upstream, name=f"{provider.name}-identity", base_url=base)


def build_keepers(providers: Mapping[str, GrantProvider], upstreams: Mapping[str, Endpoint],
                  store: Store, state_key: bytes, secrets: Mapping[str, str],
                  clock: Callable[[], float] = time.time,
                  serving: bool = True) -> GrantKeepers | None:
    """Every provider's keeper (None without `grants:`); when `serving`, demo providers
    connect by themselves (the commands only read and write the store)."""
    if not providers:
        return None
    keepers: dict[str, GrantKeeper] = {}
    for name, provider in providers.items():
        upstream = upstreams[provider.upstream]
        service = IdentityService(provider, IdentityClient(identity_endpoint(provider, upstream)),
                                  secrets)
        keeper = GrantKeeper(provider, store, state_key, secrets, service, clock)
        if provider.auto_connect and serving:
            keeper.auto_connect = _auto_connector(keeper, RestClient(upstream), secrets)
        keepers[name] = keeper
    return GrantKeepers(keepers)


def connect(keeper: GrantKeeper, rest: RestClient, secrets: Mapping[str, str], *,
            debtor: str | None, users: Sequence[str], auto: bool = False,
            login_hint: str | None = None, port: int | None = None, timeout: float = 300.0,
            out: TextIO | None = None) -> dict[str, Any]:
    """Run the flow once and store the grant; the stored grant's listing row (no secret)."""
    provider = keeper.provider
    service = keeper.identity
    hint = login_hint or (users[0] if users else None)
    try:
        if auto:
            authorization = service.authorization(provider.redirect_uri, hint)
            location = service.client.redirect_of(authorization.url)
            if location is None:
                raise ConnectError("the authorize endpoint did not redirect at once: --auto "
                                   "works only where it consents unattended (the sandbox)")
            code = service.code_from(authorization, location)
        else:
            listener = Callback(provider.redirect_uri, port)
            try:
                authorization = service.authorization(listener.url, hint)
                if out is not None:
                    print("Open this URL in a browser and sign in to consent:", file=out)
                    print(f"  {authorization.url}", file=out, flush=True)
                    print(f"Waiting for the redirect to {listener.url} …", file=out, flush=True)
                received = listener.wait(timeout)
            finally:
                listener.close()
            if received is None:
                raise ConnectError(f"no redirect reached {listener.url} within {timeout:g}s")
            code = service.code_from(authorization, received)
        tokens = service.exchange(authorization, code)
    except TokenRefused as exc:
        raise ConnectError(f"the identity service refused: {exc.error}"
                           + (f" ({exc.description})" if exc.description else "")) from exc
    except UpstreamError as exc:
        raise ConnectError(f"cannot reach the identity service: {exc.detail}") from exc
    granted = granted_debtor(keeper, rest, tokens)
    if debtor is not None and granted != debtor.strip().lower():
        raise ConnectError(f"the consent gave a grant for debtor {granted}, not {debtor}: sign "
                           "in as a user of that debtor (--login-hint)")
    if tokens.refresh_token is None:
        raise ConnectError("the identity service gave no refresh token: the scopes must include "
                           "offline_access")
    now = keeper.clock()
    record = records.new_record(granted, tokens.scope, seal(keeper.state_key, tokens.access_token),
                                now + tokens.expires_in,
                                seal(keeper.state_key, tokens.refresh_token), now)
    names = [identity(user) for user in users if identity(user)]
    replaced = keeper.store.get(records.grant_key(provider.name, granted))
    keeper.store.update([records.grant_key(provider.name, granted),
                         records.index_key(provider.name)], records.SAVE,
                        [record, names, records.RECORD_TTL])
    _revoke_replaced(keeper, replaced, tokens.refresh_token)
    for name in names:
        configured = provider.users.get(name)
        if configured and configured != granted and out is not None:
            print(f"warning: {name} is mapped to debtor {configured} under grants.{provider.name}"
                  ".users, which comes first", file=out)
    return next(row for row in keeper.listing() if row["debtor"] == granted)


def _revoke_replaced(keeper: GrantKeeper, replaced: Any, current: str) -> None:
    """The debtor's grant a new consent replaced is revoked at the identity service: its
    refresh token, gone from the store, would otherwise stay good upstream for its 30 days
    (a copy in a backup or a log of the store would still open the debtor's data)."""
    if not isinstance(replaced, dict):
        return
    refresh = unseal(keeper.state_key, str(replaced.get("refresh") or ""))
    if refresh and refresh != current and not _revoke(keeper, refresh):
        log.warning("replaced grant not revoked upstream")


def _revoke(keeper: GrantKeeper, refresh: str) -> bool:
    """Whether the identity service confirmed the refresh token's revocation (RFC 7009)."""
    try:
        return keeper.identity.revoke(refresh)
    except UpstreamError as exc:
        log.warning("grant not revoked upstream", extra={"detail": exc.detail})
        return False


def purge(keeper: GrantKeeper, debtor: str) -> tuple[bool, bool]:
    """Revoke a grant at the identity service (when its refresh token can be unsealed) and
    delete it and its users' mapping from the store: (found, revoked upstream)."""
    key = records.grant_key(keeper.provider.name, debtor.strip().lower())
    record = keeper.store.get(key)
    refresh = unseal(keeper.state_key, str((record or {}).get("refresh") or ""))
    revoked = refresh is not None and bool(refresh) and _revoke(keeper, refresh)
    keeper.store.update([key, records.index_key(keeper.provider.name)], records.DROP,
                        [debtor.strip().lower()])
    return record is not None, revoked


def granted_debtor(keeper: GrantKeeper, rest: RestClient, tokens: TokenSet) -> str:
    """The debtor a new grant is for: the first of `debtors_path` (REST grants are per debtor)."""
    headers = {"Authorization": f"Bearer {tokens.access_token}", **keeper.key_header()}
    try:
        reply = rest.call("GET", keeper.provider.debtors_path, None, headers)
    except UpstreamError as exc:
        raise ConnectError(f"cannot reach {rest.endpoint.name}: {exc.detail}") from exc
    data = reply.body.get("data") if isinstance(reply.body, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    debtor = first.get("debtorId") or first.get("id")
    if not reply.ok or not isinstance(debtor, str) or not debtor:
        raise ConnectError(f"{keeper.provider.debtors_path} answered {reply.status} without a "
                           "debtor: cannot tell which debtor the grant is for")
    return debtor.strip().lower()


def _auto_connector(keeper: GrantKeeper, rest: RestClient, secrets: Mapping[str, str]
                    ) -> Callable[[str], str]:
    """Demo mode: a user with no grant is connected on first need, unattended, with the user as
    the login hint (the sandbox consents for the seed user it names). One instance connects;
    the others wait for its mapping."""
    lock = threading.Lock()

    def connect_user(user: str) -> str:
        name = identity(user)
        key = f"grant-connecting:{keeper.provider.name}:{name}"
        with lock:
            if keeper.store.incr(key, _AUTO_CONNECT_SECONDS) == 1:
                try:
                    row = connect(keeper, rest, secrets, debtor=None, users=[user], auto=True)
                except (ConnectError, StoreError) as exc:
                    log.warning("auto-connect failed", extra={"detail": str(exc)})
                    raise GrantRefused(GRANT_MISSING, f"auto-connect failed: {exc}") from exc
                finally:
                    keeper.store.delete(key)
                log.info("grant connected on first need", extra={"detail": f"debtor {row['debtor']}"})
                return str(row["debtor"])
        give_up = time.monotonic() + _AUTO_CONNECT_SECONDS
        while time.monotonic() < give_up:
            keeper.forget_user(user)
            debtor = keeper.debtor_of(user)
            if debtor:
                return debtor
            time.sleep(0.1)
        raise GrantRefused(GRANT_MISSING, "another instance's auto-connect did not finish")

    return connect_user
