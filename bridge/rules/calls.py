"""One step's REST call as its keys say: a grant's headers, 429s waited out, every page followed.

The engine hands each call of a step with `grant`, `pages` or `throttle` to `StepCall`; the
call itself still goes through the engine's `_call` (its `retry` rule, its call count). The
grants are held by `bridge/grants`, which sits above `rules` and is handed in as an
`Authorizer` (`EngineContext.grants`), as the directory is.
"""

from __future__ import annotations

import copy
import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from bridge.errors import UpstreamError
from bridge.rules.model import Step
from bridge.rules.template import lookup
from bridge.upstream.rest import Reply

log = logging.getLogger("bridge.rules")

# The engine's refusal reasons for a grant step (rules.md, "Refusal reasons the engine produces").
GRANT_MISSING = "grant_missing"
GRANT_REVOKED = "grant_revoked"
GRANT_REASONS = (GRANT_MISSING, GRANT_REVOKED)
# A 401 may be fixed twice at most: once the secondary subscription key, once a fresh bearer.
_MAX_FIXES = 2

# (path, json body, headers) -> the answer, through the engine's call and retry rule.
Send = Callable[[str, Any, dict[str, str]], Reply]


class GrantRefused(Exception):
    """No call can be made as this user: no grant (`grant_missing`), or the identity service
    refused it (`grant_revoked`). `detail` is for the log and never holds a token."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Authorizer(Protocol):
    """What the engine asks of the grants (bridge.grants.GrantKeepers implements it)."""

    def serves(self, upstream: str) -> bool:
        """Whether a grant provider authorises calls to this upstream."""
        ...

    def headers(self, upstream: str, user: str) -> dict[str, str]:
        """The headers that authorise a call as `user` (bearer, subscription key); raises
        GrantRefused, or UpstreamError when the identity service cannot be reached."""
        ...

    def after_refusal(self, upstream: str, user: str, sent: Mapping[str, str],
                      reply: Reply) -> dict[str, str] | None:
        """After a 401: headers worth one more try (the secondary subscription key, a
        refreshed bearer), or None when nothing would change."""
        ...


@dataclass
class StepCall:
    """Carries out one run of one step; `waited` adds up its 429 waits (all pages)."""

    step: Step
    base_url: str
    send: Send
    authorizer: Authorizer | None = None
    user: str = ""
    waited: float = 0.0

    def carry_out(self, path: str, body: Any, headers: dict[str, str]) -> Reply:
        reply = self._authorized(path, body, headers)
        pages = self.step.pages
        if pages is None or not reply.ok:
            return reply
        collected = self._items(reply)
        elapsed, seen = reply.elapsed, 1
        following = lookup(reply.body, pages.next)
        while following:
            if seen >= pages.max:
                # Never a silently partial list: the caller would take it for the whole.
                raise UpstreamError(self.step.upstream, "protocol",
                                    f"the answer has more than {pages.max} pages (pages.max)")
            page = self._authorized(self._on_upstream(str(following)), None, headers)
            if not page.ok:
                return page
            collected.extend(self._items(page))
            elapsed += page.elapsed
            seen += 1
            following = lookup(page.body, pages.next)
        return replace(reply, body=_with(reply.body, pages.items, collected), elapsed=elapsed)

    # -- the parts -------------------------------------------------------------------

    def _authorized(self, path: str, body: Any, headers: dict[str, str]) -> Reply:
        sent = dict(headers)
        if self.step.grant is None or self.authorizer is None:
            return self._throttled(path, body, sent)
        sent.update(self.authorizer.headers(self.step.upstream, self.user))
        reply = self._throttled(path, body, sent)
        for _ in range(_MAX_FIXES):
            if reply.status != 401:
                break
            fixed = self.authorizer.after_refusal(self.step.upstream, self.user, sent, reply)
            if not fixed:
                break
            sent.update(fixed)
            reply = self._throttled(path, body, sent)
        return reply

    def _throttled(self, path: str, body: Any, headers: dict[str, str]) -> Reply:
        throttle = self.step.throttle
        attempt = 1
        while True:
            reply = self.send(path, body, headers)
            if reply.status != 429 or throttle is None or attempt >= throttle.attempts:
                return reply
            asked = retry_after(reply.retry_after)
            wait = min(throttle.wait if asked is None else asked, throttle.max_wait)
            if self.waited + wait > throttle.budget:
                return reply
            log.info("upstream throttled; waiting", extra={"step": self.step.id,
                                                           "attempt": attempt + 1,
                                                           "ms": round(wait * 1000)})
            time.sleep(wait)
            self.waited += wait
            attempt += 1

    def _items(self, reply: Reply) -> list[Any]:
        assert self.step.pages is not None
        items = lookup(reply.body, self.step.pages.items)
        if items is None:
            return []
        if not isinstance(items, list):
            raise UpstreamError(self.step.upstream, "protocol",
                                f"a page's {self.step.pages.items} is not a list")
        return list(items)

    def _on_upstream(self, url: str) -> str:
        """The next page's path under the upstream's base URL; an URL anywhere else is refused,
        so a forged next link can never carry the bearer to another host."""
        path = on_upstream(self.base_url, url)
        if path is None:
            raise UpstreamError(self.step.upstream, "protocol",
                                "the next page's URL leaves the upstream's host; not followed")
        return path


def on_upstream(base_url: str, url: str) -> str | None:
    """`url` as a path for the transport of `base_url` (which adds the base path back), or
    None when it is not on that upstream: another scheme, host or port, or outside its path."""
    base, target = urlsplit(base_url), urlsplit(url)
    prefix = base.path.rstrip("/")
    if target.scheme or target.netloc:
        try:
            same = ((target.scheme.lower(), (target.hostname or "").lower(),
                     target.port or _default_port(target.scheme))
                    == (base.scheme.lower(), (base.hostname or "").lower(),
                        base.port or _default_port(base.scheme)))
        except ValueError:
            return None
        if not same or target.username or target.password:
            return None
    if not target.path.startswith("/") or not (
            target.path == prefix or target.path.startswith(prefix + "/")):
        return None
    rest = target.path[len(prefix):] or "/"
    return rest + (f"?{target.query}" if target.query else "")


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if neither."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def _with(body: Any, path: str, items: list[Any]) -> Any:
    """A copy of `body` whose value at the dotted `path` is `items`."""
    document = copy.copy(body) if isinstance(body, dict) else {}
    here = document
    parts = path.split(".")
    for part in parts[:-1]:
        inner = here.get(part)
        here[part] = copy.copy(inner) if isinstance(inner, dict) else {}
        here = here[part]
    here[parts[-1]] = items
    return document
