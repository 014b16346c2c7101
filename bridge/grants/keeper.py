"""Holds one provider's grants at run time: whose grant a user calls with, a fresh access token
(refreshed before it expires, the refresh token spent once for the fleet), the subscription
key, and what `/readyz` and `soap-bridge nmbrs grants` say about them."""

from __future__ import annotations

import logging
import secrets as random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from bridge.auth.seal import seal, unseal
from bridge.errors import StoreError, UpstreamError
from bridge.grants import records
from bridge.grants.oauth import IdentityService, TokenRefused
from bridge.grants.settings import GrantProvider
from bridge.identity import identity
from bridge.rules.calls import GRANT_MISSING, GRANT_REVOKED, GrantRefused
from bridge.store.base import Store
from bridge.upstream.rest import Reply

log = logging.getLogger("bridge.grants")

GRANT_REFRESHES = Counter("soap_bridge_grant_refreshes", "Access-token refreshes of OAuth2 grants, "
                          "by provider and result (ok, refused, error).", ["provider", "result"])
GRANT_REFUSALS = Counter("soap_bridge_grant_refusals", "Calls refused for want of a usable OAuth2 "
                         "grant, by provider and reason (grant_missing, grant_revoked).",
                         ["provider", "reason"])

# How long a worker keeps a user's debtor, and the grants' state for /readyz, in memory.
_MEMORY_SECONDS = 5.0
# How often a request waiting for another instance's refresh looks again.
_POLL_SECONDS = 0.05
# After the gateway refused the primary subscription key, the secondary is used this long.
_SECONDARY_SECONDS = 300.0
# RFC 6749 §5.2: the grant itself is invalid, expired or revoked (any other error is the client's).
INVALID_GRANT = "invalid_grant"
# Azure API Management's refusal of a subscription key (FACTS §4.1; the sandbox's bodies).
_KEY_REFUSAL = "subscription key"


@dataclass
class _Access:
    token: str
    sealed: str
    expires: float


class GrantKeeper:
    """One provider's grants. `connect` (bridge/grants/connect.py) stores them; this reads,
    refreshes and reports them. `clock` is read for every decision (tests move it)."""

    def __init__(self, provider: GrantProvider, store: Store, state_key: bytes,
                 secrets: Mapping[str, str], identity_service: IdentityService,
                 clock: Callable[[], float] = time.time,
                 auto_connect: Callable[[str], str] | None = None) -> None:
        self.provider = provider
        self.store = store
        self.state_key = state_key
        self.identity = identity_service
        self.clock = clock
        # Demo mode: connect a user with no grant on first need (connect.auto_connector).
        self.auto_connect = auto_connect
        self._keys = tuple(secrets[name] for name in (provider.subscription_key,
                                                      provider.secondary_subscription_key)
                           if name and secrets.get(name))
        self._secondary_until = 0.0
        self._lock = threading.Lock()
        self._refreshing: dict[str, threading.Lock] = {}
        self._access: dict[str, _Access] = {}
        self._debtors: dict[str, tuple[float, str | None]] = {}
        self._warnings: tuple[float, list[str]] = (-_MEMORY_SECONDS, [])

    # -- what a call is sent with -------------------------------------------------------

    def headers(self, user: str) -> dict[str, str]:
        access = self._usable(user, self._debtor(user))
        return {"Authorization": f"Bearer {access.token}", **self.key_header()}

    def _usable(self, user: str, debtor: str, refused: str = "") -> _Access:
        """A fresh access token; in demo mode (auto_connect) a refused or unreadable grant is
        connected anew (a restarted demo has a new sandbox and a new state key)."""
        try:
            return self._fresh(debtor, refused)
        except GrantRefused as exc:
            if self.auto_connect is None or exc.reason != GRANT_REVOKED:
                raise
            log.info("demo grant unusable; connecting again", extra={"detail": exc.detail})
            return self._fresh(self.auto_connect(user))

    def after_refusal(self, user: str, sent: Mapping[str, str], reply: Reply) -> dict[str, str] | None:
        header = self.provider.subscription_header
        if _refuses_key(reply):
            # The gateway's 401 for the key, not the bearer's: try the other key once.
            if len(self._keys) < 2 or sent.get(header) != self._keys[0]:
                return None
            log.warning("subscription key refused; using the secondary key",
                        extra={"upstream": self.provider.upstream})
            self._secondary_until = self.clock() + _SECONDARY_SECONDS
            return {header: self._keys[1]}
        # The bearer refused (revoked or expired early upstream): refresh once, if the refused
        # token is still the one we hold, and try again.
        debtor = self._debtor(user)
        refused = sent.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            held = self._access.get(debtor)
        if held is None or held.token != refused:
            return None
        with self._lock:
            self._access.pop(debtor, None)
        access = self._usable(user, debtor, refused=held.sealed)
        return {"Authorization": f"Bearer {access.token}"}

    def key_header(self) -> dict[str, str]:
        if not self._keys:
            return {}
        use_secondary = len(self._keys) > 1 and self.clock() < self._secondary_until
        return {self.provider.subscription_header: self._keys[1 if use_secondary else 0]}

    # -- whose grant ------------------------------------------------------------------------

    def forget_user(self, user: str) -> None:
        """Drop what this worker remembers of the user's debtor (read the store again)."""
        with self._lock:
            self._debtors.pop(identity(user), None)

    def debtor_of(self, user: str) -> str | None:
        """The debtor whose grant `user` calls with: the configured table, then `connect --user`."""
        name = identity(user)
        if not name:
            return None
        configured = self.provider.users.get(name)
        if configured:
            return configured
        now = self.clock()
        with self._lock:
            known = self._debtors.get(name)
        if known is not None and now - known[0] < _MEMORY_SECONDS:
            return known[1]
        index = self.store.get(records.index_key(self.provider.name)) or {}
        debtor = (index.get("users") or {}).get(name)
        with self._lock:
            self._debtors[name] = (now, debtor)
        return str(debtor) if debtor else None

    def _debtor(self, user: str) -> str:
        debtor = self.debtor_of(user)
        if debtor is None and self.auto_connect is not None and identity(user):
            debtor = self.auto_connect(user)
            with self._lock:
                self._debtors[identity(user)] = (self.clock(), debtor)
        if debtor is None:
            GRANT_REFUSALS.labels(self.provider.name, GRANT_MISSING).inc()
            raise GrantRefused(GRANT_MISSING, f"no {self.provider.name} grant for this user: "
                               f"soap-bridge connect {self.provider.name} --debtor ID --user NAME")
        return debtor

    # -- a fresh access token ------------------------------------------------------------------

    def _fresh(self, debtor: str, refused: str = "") -> _Access:
        now = self.clock()
        with self._lock:
            held = self._access.get(debtor)
        if held is not None and held.expires - self.provider.refresh_before > now and not refused:
            return held
        # One refresh per debtor in this process at a time; the store's lease does the fleet.
        with self._lock:
            gate = self._refreshing.setdefault(debtor, threading.Lock())
        with gate:
            return self._from_store(debtor, refused)

    def _from_store(self, debtor: str, refused: str) -> _Access:
        key = records.grant_key(self.provider.name, debtor)
        holder = random.token_hex(8)
        give_up = time.monotonic() + self.provider.wait
        while True:
            # Due: what expires within refresh_before of now (the keeper's clock).
            result = self.store.update([key], records.LEASE, [
                holder, self.provider.lease, self.clock() + self.provider.refresh_before, refused])
            state = result.get("state")
            if state == "fresh":
                return self._remember(debtor, result["record"])
            if state == "leased":
                return self._refresh(debtor, key, holder, result["record"])
            if state == "wait":
                if time.monotonic() > give_up:
                    raise UpstreamError(self.provider.name, "timeout", "another instance's "
                                        "refresh of the grant did not finish in time")
                time.sleep(_POLL_SECONDS)
                continue
            reason = GRANT_MISSING if state == "missing" else GRANT_REVOKED
            GRANT_REFUSALS.labels(self.provider.name, reason).inc()
            problem = (result.get("record") or {}).get("problem") or state
            raise GrantRefused(reason, f"the {self.provider.name} grant of debtor {debtor} is "
                               f"{'missing' if state == 'missing' else f'unusable ({problem})'}: "
                               f"soap-bridge connect {self.provider.name} --debtor {debtor}")

    def _refresh(self, debtor: str, key: str, holder: str, record: Mapping[str, Any]) -> _Access:
        refresh = unseal(self.state_key, str(record.get("refresh") or ""))
        if not refresh:
            self.store.update([key], records.END, [holder, "", ""])
            GRANT_REFUSALS.labels(self.provider.name, GRANT_REVOKED).inc()
            # Not marked revoked: an instance with the right state key can still use it.
            raise GrantRefused(GRANT_REVOKED, f"the {self.provider.name} grant of debtor {debtor} "
                               "is sealed under another state key (SOAP_BRIDGE_STATE_KEY): "
                               f"soap-bridge connect {self.provider.name} --debtor {debtor}")
        try:
            tokens = self.identity.refresh(refresh)
        except TokenRefused as exc:
            if exc.error != INVALID_GRANT:
                # The client, not the grant (a wrong client secret, a scope): the grant stays
                # as it is, and the call is unavailable until the configuration is fixed.
                GRANT_REFRESHES.labels(self.provider.name, "error").inc()
                self.store.update([key], records.END, [holder, "", ""])
                log.error("the identity service refused the client", extra={
                    "upstream": self.provider.upstream, "detail": exc.error})
                raise UpstreamError(self.provider.name, "http", f"the identity service refused "
                                    f"the refresh: {exc.error}") from exc
            GRANT_REFRESHES.labels(self.provider.name, "refused").inc()
            GRANT_REFUSALS.labels(self.provider.name, GRANT_REVOKED).inc()
            self.store.update([key], records.END, [holder, records.REVOKED,
                                                   f"{exc.error}: {exc.description}"[:200]])
            self._forget_warnings()
            log.warning("grant refused by the identity service", extra={
                "upstream": self.provider.upstream, "detail": f"debtor {debtor}: {exc.error}"})
            raise GrantRefused(GRANT_REVOKED, f"the identity service refused the "
                               f"{self.provider.name} grant of debtor {debtor} ({exc.error}): "
                               f"soap-bridge connect {self.provider.name} --debtor {debtor}"
                               ) from exc
        except (UpstreamError, StoreError):
            GRANT_REFRESHES.labels(self.provider.name, "error").inc()
            # The lease ends; if the request did reach the identity service, the refresh token
            # may be spent with its answer lost, and the next refresh finds the grant refused.
            try:
                self.store.update([key], records.END, [holder, "", ""])
            except StoreError:
                pass  # the lease runs out by itself
            raise
        expires = self.clock() + tokens.expires_in
        sealed = seal(self.state_key, tokens.access_token)
        kept = self.store.update([key], records.ROTATE, [
            holder, sealed, expires,
            seal(self.state_key, tokens.refresh_token) if tokens.refresh_token else "",
            records.RECORD_TTL])
        GRANT_REFRESHES.labels(self.provider.name, "ok").inc()
        if kept != "ok":
            log.warning("grant lease ran out during a refresh", extra={
                "upstream": self.provider.upstream, "detail": f"debtor {debtor}: {kept}"})
        access = _Access(tokens.access_token, sealed, expires)
        with self._lock:
            self._access[debtor] = access
        return access

    def _remember(self, debtor: str, record: Mapping[str, Any]) -> _Access:
        sealed = str(record.get("access") or "")
        token = unseal(self.state_key, sealed)
        if not token:
            GRANT_REFUSALS.labels(self.provider.name, GRANT_REVOKED).inc()
            raise GrantRefused(GRANT_REVOKED, f"the {self.provider.name} grant of debtor {debtor} "
                               "is sealed under another state key (SOAP_BRIDGE_STATE_KEY)")
        access = _Access(token, sealed, float(record.get("access_expires") or 0))
        with self._lock:
            self._access[debtor] = access
        return access

    # -- what is known of the grants, without secrets ------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """One row per grant: debtor, users, scopes, access expiry, last rotation, state."""
        index = self.store.get(records.index_key(self.provider.name)) or {}
        users: dict[str, list[str]] = {}
        for user, debtor in (index.get("users") or {}).items():
            users.setdefault(str(debtor), []).append(str(user))
        for user, debtor in self.provider.users.items():
            users.setdefault(debtor, []).append(f"{user} (config)")
        debtors = sorted(set(index.get("debtors") or {}) | set(users))
        found = self.store.get_many([records.grant_key(self.provider.name, d) for d in debtors])
        rows = []
        for debtor, record in zip(debtors, found, strict=True):
            record = record or {}
            rows.append({
                "provider": self.provider.name,
                "debtor": debtor,
                "users": sorted(users.get(debtor, [])),
                "scopes": str(record.get("scopes") or ""),
                "access_expires": float(record.get("access_expires") or 0) or None,
                "connected_at": float(record.get("connected_at") or 0) or None,
                "rotated_at": float(record.get("rotated_at") or 0) or None,
                "rotations": int(record.get("rotations") or 0),
                "state": str(record.get("state") or "missing"),
                "problem": str(record.get("problem") or ""),
            })
        return rows

    def warnings(self) -> list[str]:
        """What /readyz reports (readiness stays up: other users' grants still work)."""
        now = time.monotonic()
        with self._lock:
            taken, cached = self._warnings
        if now - taken < _MEMORY_SECONDS:
            return cached
        found = [f"grant {row['provider']} debtor {row['debtor']}: {row['state']}"
                 + (f" ({row['problem']})" if row["problem"] else "")
                 + f"; run soap-bridge connect {row['provider']} --debtor {row['debtor']}"
                 for row in self.listing() if row["state"] != records.ACTIVE]
        with self._lock:
            self._warnings = (now, found)
        return found

    def _forget_warnings(self) -> None:
        with self._lock:
            self._warnings = (-_MEMORY_SECONDS, [])


def _refuses_key(reply: Reply) -> bool:
    body = reply.body
    return (isinstance(body, dict) and "statusCode" in body
            and _KEY_REFUSAL in str(body.get("message", "")).lower())


class GrantKeepers:
    """The providers' keepers by upstream: the engine's `Authorizer` (bridge/rules/calls.py)."""

    def __init__(self, keepers: Mapping[str, GrantKeeper]) -> None:
        self.by_name = dict(keepers)
        self.by_upstream = {keeper.provider.upstream: keeper for keeper in keepers.values()}

    def serves(self, upstream: str) -> bool:
        return upstream in self.by_upstream

    def headers(self, upstream: str, user: str) -> dict[str, str]:
        return self._keeper(upstream).headers(user)

    def after_refusal(self, upstream: str, user: str, sent: Mapping[str, str],
                      reply: Reply) -> dict[str, str] | None:
        return self._keeper(upstream).after_refusal(user, sent, reply)

    def warnings(self) -> list[str]:
        found: list[str] = []
        for keeper in self.by_name.values():
            try:
                found.extend(keeper.warnings())
            except StoreError:
                continue  # /readyz's store check tells that
        return found

    def _keeper(self, upstream: str) -> GrantKeeper:
        keeper = self.by_upstream.get(upstream)
        if keeper is None:
            raise GrantRefused("unavailable", f"no grant provider is configured for {upstream}")
        return keeper
