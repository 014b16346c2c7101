"""The REST client: the only place the bridge opens sockets to an upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge import logs
from bridge.errors import UpstreamError
from bridge.upstream.breaker import Breaker, BreakerSettings
from bridge.upstream.transport import UNSENDABLE, Transport

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
    # The whole call, connecting included; None: connect_timeout + read_timeout.
    deadline: float | None = None
    max_answer_bytes: int = 1024 * 1024

    @property
    def total_deadline(self) -> float:
        return self.deadline if self.deadline is not None else (
            self.connect_timeout + self.read_timeout)


@dataclass(frozen=True)
class Reply:
    """An upstream answer as plain data; error_code/summary follow the vendor's error shape."""

    status: int
    body: Any
    elapsed: float
    error_code: str | None = None
    summary: str | None = None
    # The answer's Retry-After header as sent (a 429's or a 503's), for the engine's throttle.
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class RestClient:
    """JSON over HTTP to one upstream, with its own timeouts and circuit breaker."""

    def __init__(self, endpoint: Endpoint, breaker: Breaker | None = None,
                 observe: Callable[[str, str, float], None] | None = None) -> None:
        self.endpoint = endpoint
        self.breaker = breaker
        # observe(upstream, result, seconds): how the app counts calls; this layer knows no metrics.
        self._observe = observe or (lambda upstream, result, seconds: None)
        self._transport = transport_for(endpoint)

    def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
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
        data = None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            sent_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            answer = self._transport.send(method, path, data, sent_headers)
        except UpstreamError as exc:
            if exc.kind != UNSENDABLE:  # nothing was sent: the upstream did not fail
                self._record(False)
            # A timeout took its whole read_timeout: the metrics must show that, not 0.
            self._observe(self.endpoint.name, exc.limit or exc.kind,
                          time.perf_counter() - started)
            raise
        # 4xx answers are the upstream working as meant (a wrong password is not an outage).
        self._record(answer.status < 500)
        self._observe(self.endpoint.name, f"{answer.status // 100}xx", answer.elapsed)
        body = _json_or_none(answer.body)
        if 200 <= answer.status < 300:
            if body is None and answer.body:
                raise UpstreamError(
                    self.endpoint.name,
                    "protocol",
                    f"{method} {path} answered {answer.status} with a body that is not JSON",
                )
            return Reply(answer.status, body, answer.elapsed)
        error_code = summary = None
        if isinstance(body, dict):
            error_code = _short(body.get("errorCode"))
            summary = _short(body.get("summary"))
        return Reply(answer.status, body, answer.elapsed, error_code, summary,
                     answer.headers.get("Retry-After"))

    def _record(self, success: bool) -> None:
        if self.breaker is not None:
            if success:
                self.breaker.succeeded()
            else:
                self.breaker.failed()

    def close(self) -> None:
        self._transport.close()


def transport_for(endpoint: Endpoint) -> Transport:
    return Transport(endpoint.name, endpoint.base_url, endpoint.connect_timeout,
                     endpoint.read_timeout, endpoint.verify_tls, endpoint.total_deadline,
                     endpoint.max_answer_bytes)


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:_SNIPPET]
