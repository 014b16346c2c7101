"""The /_sandbox/ endpoints tests drive the sandbox with: fault injection, reset, stats, health."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping

from .exchange import (
    JSON_TYPE,
    Call,
    Request,
    Response,
    Route,
    json_response,
    no_content,
    rest_error,
)
from .state import Control, Failure, SandboxState

CONTROL_PREFIX = "/_sandbox/"
MAX_DELAY_MS = 120_000
GARBAGE = Response(200, b"<html>oops", "text/html; charset=utf-8")


class ControlError(ValueError):
    """A /_sandbox/control body the sandbox cannot act on."""


def parse_control(document: object) -> Control:
    """Validate a control request body; see the package docstring for its fields."""
    if not isinstance(document, dict):
        raise ControlError("the control must be a JSON object")
    unknown = sorted(set(document) - {"delay_ms", "drip_ms", "fail", "paths", "times"})
    if unknown:
        raise ControlError(f"unknown field {unknown[0]!r}")
    delay_ms, drip_ms = document.get("delay_ms", 0), document.get("drip_ms", 0)
    for name, value in (("delay_ms", delay_ms), ("drip_ms", drip_ms)):
        if not _whole(value) or not 0 <= value <= MAX_DELAY_MS:
            raise ControlError(f"{name} must be a whole number from 0 to {MAX_DELAY_MS}")
    paths = document.get("paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ControlError("paths must be a list of non-empty strings")
    times = document.get("times")
    if times is not None and (not _whole(times) or times < 1):
        raise ControlError("times must be a whole number of at least 1")
    return Control(
        delay_ms=delay_ms,
        failure=_failure(document.get("fail")),
        paths=tuple(paths),
        times=times,
        drip_ms=drip_ms,
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _failure(value: object) -> Failure | None:
    if value is None:
        return None
    if value in ("garbage", "close"):
        return Failure(kind=str(value))
    if not isinstance(value, dict):
        raise ControlError('fail must be null, "garbage", "close" or {"status", "body"}')
    unknown = sorted(set(value) - {"status", "body", "content_type"})
    if unknown:
        raise ControlError(f"unknown field fail.{unknown[0]}")
    status = value.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise ControlError("fail.status must be an HTTP status from 200 to 599")
    body = value.get("body")
    content_type = value.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise ControlError("fail.content_type must be a string")
    # A string body is sent as it is, so tests can imitate a proxy's HTML or text page.
    if isinstance(body, str):
        return Failure("status", status, body.encode("utf-8"), content_type or "text/plain; charset=utf-8")
    if body is None:
        return Failure("status", status, b"", content_type)
    return Failure("status", status, json.dumps(body).encode("utf-8"), content_type or JSON_TYPE)


def disturb(control: Control) -> Response | None:
    """Carry out a control on one request: wait, then the failure to answer with, if any."""
    if control.delay_ms:
        time.sleep(control.delay_ms / 1000)
    failure = control.failure
    if failure is None:
        return None
    if failure.kind == "garbage":
        return GARBAGE
    if failure.kind == "close":
        return Response(0, drop=True)
    return Response(failure.status, failure.body, failure.content_type)


class ControlService:
    """Answers /_sandbox/*; `call_names` are reported in stats even before their first call;
    a reset calls `also_reset` too, for what the services keep outside the state."""

    def __init__(
        self,
        state: SandboxState,
        call_names: tuple[str, ...],
        also_reset: tuple[Callable[[], None], ...] = (),
    ) -> None:
        self.state = state
        self.call_names = call_names
        self.also_reset = also_reset
        self.routes = (
            self._route("control", "POST", self.control),
            self._route("reset", "POST", self.reset),
            self._route("stats", "GET", self.stats),
            self._route("healthz", "GET", self.healthz),
        )

    @staticmethod
    def _route(name: str, method: str, handler: Callable[[Request], Response]) -> Route:
        return Route(
            re.compile(re.escape(CONTROL_PREFIX + name)),
            method,
            lambda request: Call(f"_sandbox:{name}", lambda: handler(request)),
        )

    def control(self, request: Request) -> Response:
        try:
            document = json.loads(request.body or b"null")
        except ValueError:
            return rest_error(400, "BAD_REQUEST", "Bad sandbox control: the body is not JSON.")
        try:
            control = parse_control(document)
        except ControlError as exc:
            return rest_error(400, "BAD_REQUEST", f"Bad sandbox control: {exc}.")
        self.state.set_control(control)
        return no_content()

    def reset(self, request: Request) -> Response:
        self.state.reset()
        for reset in self.also_reset:
            reset()
        return no_content()

    def stats(self, request: Request) -> Response:
        calls: Mapping[str, int] = self.state.calls()
        counted = {name: calls.get(name, 0) for name in self.call_names}
        counted.update(calls)
        return json_response(200, {"calls": counted, "request_ids": self.state.request_ids()})

    def healthz(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})
