"""The console's routes under /console/: pages, their JSON, the operator's actions, the
static files, each answer with the headers that keep it out of frames and caches."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from bridge.console import pages
from bridge.console.figures import operation_figures, operations, overview
from bridge.console.session import (
    ConsoleAuth,
    Operator,
    csrf_ok,
    expired_cookie,
    same_origin,
    session_cookie,
)
from bridge.migrate.audit import Audit
from bridge.migrate.marks import KINDS, Marks
from bridge.migrate.plan import Plan
from bridge.migrate.promoter import Promoter
from bridge.migrate.records import History, Recorder
from bridge.migrate.report import parse_since
from bridge.wsgi import JSON, Response, answering, json_document, json_response, read_body

log = logging.getLogger("bridge.console")

_HTML = "text/html; charset=utf-8"
# No inline script or style anywhere: everything the page runs comes from /console/static/.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
)
_STATIC = {"console.js": "text/javascript; charset=utf-8",
           "console.css": "text/css; charset=utf-8"}
_OPERATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
_MAX_FORM = 4096
# How long one window's records are reused: every open page polls every few seconds.
_CACHE_SECONDS = 2.0


class Console:
    """Serves /console/…; built once per process by `bridge.wiring`."""

    def __init__(self, auth: ConsoleAuth, recorder: Recorder, plans: Callable[[], Plan],
                 marks: Marks, audit: Audit,
                 client: Callable[[dict[str, Any]], str | None],
                 promoter: Promoter | None = None) -> None:
        self.auth = auth
        self._recorder = recorder
        self._plans = plans
        self._marks = marks
        self._audit = audit
        self._client = client
        self._promoter = promoter
        self._cache: dict[str, tuple[float, History]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], method: str, path: str,
                 base_url: str) -> Response:
        # Errors (a store outage, a body too large) answered as /v1/* answers them.
        response, _ = answering(JSON, lambda: self._route(environ, method, path, base_url))
        return Response(response.status, response.body, response.content_type,
                        (*response.headers, *SECURITY_HEADERS))

    # -- routing ------------------------------------------------------------------

    def _route(self, environ: dict[str, Any], method: str, path: str,
               base_url: str) -> Response:
        if not self.auth.enabled:
            return _text(404, "The console is off: list an operator key under operator_keys "
                              "in the configuration (docs/security.md).\n")
        if path.startswith("/console/static/"):
            return self._static(path[len("/console/static/"):])
        if path == "/console/login":
            return self._login(environ, method, base_url)
        if self.auth.bearer(environ) is not None:
            # A key in the header is guessed as cheaply as at the form: the same limit.
            address = self._client(environ)
            if self.auth.login_refused(address):
                return json_response(429, {"error": "too_many_attempts", "error_description":
                                           "too many wrong operator keys from this address; "
                                           "try again in 15 minutes"}, (("Retry-After", "900"),))
            operator = self.auth.operator(environ)
            if operator is None:
                self.auth.login_failed(address)
                log.warning("console request refused: wrong operator key")
        else:
            operator = self.auth.operator(environ)
        api = path.startswith("/console/api/")
        if operator is None:
            if api or method not in ("GET", "HEAD"):
                return json_response(401, {"error": "unauthorized", "error_description":
                                           "log in at /console/login or send Authorization: "
                                           "Bearer <operator key>"},
                                     (("WWW-Authenticate", 'Bearer realm="soap-bridge console"'),))
            return _redirect("/console/login")
        if path == "/console/logout":
            return self._logout(environ, method, operator, base_url)
        if method not in ("GET", "HEAD"):
            if not api:
                return _text(405, "Method not allowed.\n", (("Allow", "GET"),))
            if not csrf_ok(operator, environ, base_url):
                log.warning("console request refused: CSRF check failed",
                            extra={"endpoint": path})
                return json_response(403, {"error": "forbidden", "error_description":
                                           "missing or wrong X-CSRF-Token, or not sent from "
                                           "this console"})
            return self._act(environ, path, operator)
        csrf = operator.csrf or ""
        if path in ("/console", "/console/"):
            return Response(200, pages.index_page(csrf), _HTML)
        if path.startswith("/console/operations/"):
            name = path[len("/console/operations/"):]
            if not self._known(name):
                return _text(404, "No such operation.\n")
            return Response(200, pages.operation_page(name, csrf), _HTML)
        if path == "/console/api/operations" or path.startswith("/console/api/operations/"):
            try:
                since = self._since(environ)
            except ValueError as exc:
                return json_response(400, {"error": "invalid_request",
                                           "error_description": str(exc)})
            if path == "/console/api/operations":
                return self._overview(since)
            name = path[len("/console/api/operations/"):]
            if not self._known(name):
                return json_response(404, {"error": "not_found"})
            return json_response(200, self.figures(name, since))
        return _text(404, "Not found.\n")

    # -- log-in ---------------------------------------------------------------------

    def _login(self, environ: dict[str, Any], method: str, base_url: str) -> Response:
        if method in ("GET", "HEAD"):
            return Response(200, pages.login_page(), _HTML)
        if method != "POST":
            return _text(405, "Method not allowed.\n", (("Allow", "GET, POST"),))
        address = self._client(environ)
        if not same_origin(environ, base_url):
            return Response(403, pages.login_page("Log in from this console's own page."),
                            _HTML)
        if self.auth.login_refused(address):
            return Response(429, pages.login_page("Too many wrong keys from this address; "
                                                  "try again in 15 minutes."), _HTML,
                            (("Retry-After", "900"),))
        form = _form(environ)
        if not self.auth.is_key(form.get("key", "")):
            self.auth.login_failed(address)
            log.warning("console log-in refused: wrong operator key")
            return Response(401, pages.login_page("That is not an operator key."), _HTML)
        session_id, operator = self.auth.open_session()
        log.info("console log-in", extra={"by": operator.label})
        secure = base_url.startswith("https:")
        return _redirect("/console/", (("Set-Cookie", session_cookie(session_id, self.auth.ttl,
                                                                     secure)),))

    def _logout(self, environ: dict[str, Any], method: str, operator: Operator,
                base_url: str) -> Response:
        if method != "POST":
            return _text(405, "Method not allowed.\n", (("Allow", "POST"),))
        form = _form(environ)
        environ = {**environ, "HTTP_X_CSRF_TOKEN": form.get("csrf", "")}
        if not csrf_ok(operator, environ, base_url):
            return _text(403, "Log out from this console's own page.\n")
        self.auth.close_session(environ)
        return _redirect("/console/login", (("Set-Cookie",
                                             expired_cookie(base_url.startswith("https:"))),))

    # -- data -------------------------------------------------------------------------

    def _known(self, name: str) -> bool:
        if not _OPERATION.match(name):
            return False
        plan = self._plans()
        # The plan's own operations first: reading every record kept is for the rare rest.
        return (name in operations(plan, History([], {}, {}))
                or name in operations(plan, self._history(0.0)))

    def _since(self, environ: dict[str, Any]) -> float:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        since = (query.get("since") or [""])[0]
        if not since:
            return 0.0
        return parse_since(since, time.time())

    def _history(self, since: float) -> History:
        # Windows are relative to now: cache by window length, rounded, not by exact time.
        key = "all" if since == 0.0 else str(round(time.time() - since))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
                return cached[1]
        history = self._recorder.history(since)
        with self._lock:
            now = time.monotonic()
            # Stale windows go: a script polling `since=<a date>` asks for a new length every
            # second, and each entry holds its window's records.
            self._cache = {other: entry for other, entry in self._cache.items()
                           if now - entry[0] < _CACHE_SECONDS}
            self._cache[key] = (now, history)
        return history

    def figures(self, operation: str, since: float = 0.0) -> dict[str, Any]:
        """The operation page's JSON."""
        history = self._history(since)
        overlay = self._promoter.overlay.of(operation) if self._promoter else {}
        figures = operation_figures(operation, self._plans(), history, time.time(),
                                    self._marks.learned(operation), self._marks.of(operation),
                                    overlay)
        figures["audit"] = list(reversed(self._audit.entries(operation=operation)[-20:]))
        return figures

    def _overview(self, since: float) -> Response:
        names = operations(self._plans(), self._history(since))
        return json_response(200, {"operations": overview(
            names, [self.figures(name, since) for name in names])})

    # -- actions ------------------------------------------------------------------------

    def _act(self, environ: dict[str, Any], path: str, operator: Operator) -> Response:
        name, _, action = path[len("/console/api/operations/"):].partition("/")
        if not path.startswith("/console/api/operations/") or not self._known(name):
            return json_response(404, {"error": "not_found"})
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return json_response(415, {"error": "invalid_request",
                                       "error_description": "send application/json"})
        raw = read_body(environ, _MAX_FORM)  # too large: 413, as errors are answered
        body = json_document(raw or b"{}")
        if body is None:
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "the body is not JSON"})
        if not isinstance(body, dict):
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "the body must be a JSON object"})
        if action == "marks":
            return self._mark(name, body, operator)
        if action == "mode" and self._promoter is not None:
            return self._mode(name, body, operator)
        return json_response(404, {"error": "not_found"})

    def _mark(self, operation: str, body: dict[str, Any], operator: Operator) -> Response:
        path, kind = body.get("path"), body.get("mark")
        if not isinstance(path, str) or not path or len(path) > 512:
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "path must name a differing path"})
        if kind is not None and kind not in KINDS:
            return json_response(400, {"error": "invalid_request", "error_description":
                                       f"mark is one of {', '.join(KINDS)}, or null to clear"})
        try:
            self._marks.mark(operation, path, kind, operator.label)
        except ValueError as exc:
            return json_response(409, {"error": "conflict", "error_description": str(exc)})
        return json_response(200, {"path": path, "mark": kind})

    def _mode(self, operation: str, body: dict[str, Any], operator: Operator) -> Response:
        assert self._promoter is not None
        cohort, action = body.get("cohort"), body.get("action")
        if (cohort is not None and not isinstance(cohort, str)) or not isinstance(action, str):
            return json_response(400, {"error": "invalid_request", "error_description":
                                       "send {action: promote|demote|reset, cohort: name|null}"})
        try:
            decided = self._promoter.by_hand(operation, cohort or None, action, operator.label)
        except ValueError as exc:
            return json_response(409, {"error": "conflict", "error_description": str(exc)})
        return json_response(200, decided)

    # -- static files ---------------------------------------------------------------------

    def _static(self, name: str) -> Response:
        content_type = _STATIC.get(name)
        if content_type is None:
            return _text(404, "Not found.\n")
        body = resources.files("bridge.console").joinpath("static", name).read_bytes()
        return Response(200, body, content_type)


def _form(environ: dict[str, Any]) -> dict[str, str]:
    body = read_body(environ, _MAX_FORM)
    try:
        parsed = parse_qs(body.decode("utf-8"))
    except UnicodeDecodeError:
        return {}
    return {key: values[0] for key, values in parsed.items()}


def _text(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8", headers)


def _redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(303, b"", "text/plain; charset=utf-8", (("Location", location), *headers))
