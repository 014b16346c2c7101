"""The REST client: the only place the bridge opens sockets to an upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
)

from bridge import logs
from bridge.errors import UpstreamError
from bridge.upstream.breaker import Breaker, BreakerSettings

# Enough to tell a person what the upstream said; never the whole body.
_SNIPPET = 200


@dataclass(frozen=True)
class Endpoint:
    """One upstream as the client needs it."""

    name: str
    base_url: str
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    verify_tls: bool = True
    breaker: BreakerSettings = field(default_factory=BreakerSettings)


@dataclass(frozen=True)
class Reply:
    """An upstream answer as plain data; error_code/summary follow the vendor's error shape."""

    status: int
    body: Any
    elapsed: float
    error_code: str | None = None
    summary: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@contextmanager
def upstream_errors(endpoint: Endpoint, what: str) -> Iterator[None]:
    """requests' exceptions as UpstreamError, whose kind the rules' on_error can match."""
    try:
        yield
    except requests.Timeout as exc:
        raise UpstreamError(endpoint.name, "timeout", f"no answer from {what} in time") from exc
    except requests.ConnectionError as exc:
        if _never_sent(exc):
            raise UpstreamError(endpoint.name, "connect",
                                f"cannot reach {endpoint.base_url}") from exc
        # The connection broke after the request went out: it may have been acted on, so
        # this is not the `connect` kind that retry rules treat as safe to repeat.
        raise UpstreamError(endpoint.name, "protocol",
                            f"{what}: connection dropped before an answer") from exc
    except requests.RequestException as exc:
        raise UpstreamError(endpoint.name, "protocol", type(exc).__name__) from exc


def _never_sent(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request could be sent (refused, DNS, TLS)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NewConnectionError | ConnectTimeoutError | NameResolutionError
                      | requests.exceptions.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__ or (
            cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None)
        if isinstance(cause, MaxRetryError):
            cause = cause.reason
    return False


def new_session(pool_size: int = 16) -> requests.Session:
    """A pooled session: login traffic reuses upstream connections instead of reconnecting."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Never pick up proxies or .netrc credentials from the machine by surprise.
    session.trust_env = False
    return session


class RestClient:
    """JSON over HTTP to one upstream, with its own timeouts and circuit breaker."""

    def __init__(self, endpoint: Endpoint, session: requests.Session | None = None,
                 breaker: Breaker | None = None,
                 observe: Callable[[str, str, float], None] | None = None) -> None:
        self.endpoint = endpoint
        self.breaker = breaker
        # observe(upstream, result, seconds): how the app counts calls; this layer knows no metrics.
        self._observe = observe or (lambda upstream, result, seconds: None)
        self._session = session or new_session()

    def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        url = self.endpoint.base_url + path
        sent_headers = {"Accept": "application/json"}
        request_id = logs.request_id.get()
        if request_id:
            # One id from the caller's request through to the vendor's logs.
            sent_headers["X-Request-ID"] = request_id
        sent_headers.update(headers or {})
        if self.breaker is not None and not self.breaker.allow():
            self._observe(self.endpoint.name, "open", 0.0)
            raise UpstreamError(self.endpoint.name, "open",
                                "circuit open after repeated failures; not called")
        started = time.perf_counter()
        try:
            with upstream_errors(self.endpoint, f"{method} {path}"):
                response = self._session.request(
                    method,
                    url,
                    json=json_body,
                    headers=sent_headers,
                    timeout=(self.endpoint.connect_timeout, self.endpoint.read_timeout),
                    verify=self.endpoint.verify_tls,
                    allow_redirects=False,
                )
        except UpstreamError as exc:
            self._record(False)
            self._observe(self.endpoint.name, exc.kind, time.perf_counter() - started)
            raise
        # 4xx answers are the upstream working as meant (a wrong password is not an outage).
        self._record(response.status_code < 500)
        elapsed = time.perf_counter() - started
        self._observe(self.endpoint.name, f"{response.status_code // 100}xx", elapsed)
        body = _json_or_none(response)
        if 200 <= response.status_code < 300:
            if body is None and response.content:
                raise UpstreamError(
                    self.endpoint.name,
                    "protocol",
                    f"{method} {path} answered {response.status_code} with a body that is not JSON",
                )
            return Reply(response.status_code, body, elapsed)
        error_code = summary = None
        if isinstance(body, dict):
            error_code = _short(body.get("errorCode"))
            summary = _short(body.get("summary"))
        return Reply(response.status_code, body, elapsed, error_code, summary)

    def _record(self, success: bool) -> None:
        if self.breaker is not None:
            if success:
                self.breaker.succeeded()
            else:
                self.breaker.failed()

    def close(self) -> None:
        self._session.close()


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:_SNIPPET]
