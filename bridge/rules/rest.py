"""A rule's `rest:` section: the same login served as the vendor's deprecated REST call.

The section says where each of the rule's inputs is in the REST request, what the 200
answer is, and which REST error each refusal reason becomes. The engine runs the rule as
it is otherwise (verification, lockout, steps, token), so a REST login and a SOAP login of
one user share the lockout, the remembered verification and the cached bearer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import Problem
from bridge.rules.template import TemplateError, compile_value
from bridge.yamlfile import LocatedDict, line_of

# Where a REST input may be found: the JSON body, or what the facade knows of the request
# (rest.version: "3.7"; rest.now: the time in the vendor's form, e.g. 2026-04-01T09:15:00.12).
REST_INPUT_ROOTS = ("body.", "rest.")
# [INFERRED] FACTS §7 lists six codes; TOO_MANY_REQUESTS is the bridge's own for its rate
# limits, which the vendor's API has no code for.
REST_ERROR_CODES = ("BAD_REQUEST", "VALIDATION_FAILED", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND",
                    "INTERNAL_SERVER_ERROR", "TOO_MANY_REQUESTS")
_KEYS = ("input", "session_length", "result", "errors")


@dataclass(frozen=True)
class RestError:
    """One refusal reason as the vendor's REST error: status, errorCode, summary."""

    status: int
    error_code: str
    summary: str
    line: int = 0


@dataclass(frozen=True)
class RestAnswer:
    """A rule's `rest:` section, compiled."""

    # input name -> where it is in the REST request (body.…, rest.…)
    inputs: Mapping[str, str]
    # the 200 answer, a compiled template over input, steps, vars and token
    result: Any
    errors: Mapping[str, RestError]
    # where the caller asks for a session length in minutes (it can only shorten the token's)
    session_length: str | None = None
    line: int = 0
    key_lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


def compile_rest(data: LocatedDict, file: str) -> tuple[RestAnswer | None, list[Problem]]:
    """The `rest:` section of a rule file (None when it has none), and its problems."""
    section = data.get("rest")
    if section is None:
        return None, []
    problems: list[Problem] = []

    def problem(container: Any, key: str | int, message: str) -> None:
        # A key not written is told at its section.
        problems.append(Problem(file, line_of(container, key)
                                or getattr(container, "line", None), message))

    if not isinstance(section, LocatedDict):
        problem(data, "rest", "rest must be a mapping: input, result, errors (docs/rules.md)")
        return None, problems
    for key in section:
        if key not in _KEYS:
            problem(section, key, f"unknown key {key!r} in rest (known: {', '.join(_KEYS)})")
    inputs: dict[str, str] = {}
    given = section.get("input")
    if not isinstance(given, LocatedDict) or not given:
        problem(section, "input", "rest.input maps each of the rule's inputs to its place in "
                "the REST request, e.g. username: body.request.authRequest.username")
    else:
        for name, path in given.items():
            if not isinstance(path, str) or not path.startswith(REST_INPUT_ROOTS):
                problem(given, name, f"rest.input {name!r}: a path starting with "
                        f"{' or '.join(REST_INPUT_ROOTS)}")
                continue
            inputs[str(name)] = path
    session_length = section.get("session_length")
    if session_length is not None and (not isinstance(session_length, str)
                                       or not session_length.startswith("body.")):
        problem(section, "session_length", "rest.session_length is a path starting with body.")
        session_length = None
    result = None
    if "result" not in section or not isinstance(section.get("result"), dict):
        problem(section, "result", "rest.result is the 200 answer to build, a mapping")
    else:
        try:
            result = compile_value(section["result"], section.line_of("result"))
        except TemplateError as exc:
            problems.append(Problem(file, exc.line or section.line_of("result"),
                                    f"rest.result: {exc}"))
    errors = _errors(section, problem)
    if problems:
        return None, problems
    return RestAnswer(inputs=inputs, result=result, errors=errors,
                      session_length=session_length, line=section.line,
                      key_lines=section.key_lines), []


def _errors(section: LocatedDict, problem: Any) -> dict[str, RestError]:
    given = section.get("errors")
    if not isinstance(given, LocatedDict):
        problem(section, "errors", "rest.errors maps each refusal reason to {status, error_code, summary}")
        return {}
    errors: dict[str, RestError] = {}
    for reason, spec in given.items():
        if not isinstance(spec, LocatedDict) or set(spec) != {"status", "error_code", "summary"}:
            problem(given, reason, f"rest.errors {reason!r} takes status, error_code and summary")
            continue
        status, code, summary = spec["status"], spec["error_code"], spec["summary"]
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            problem(spec, "status", f"rest.errors {reason!r}: status is an HTTP error status")
            continue
        if code not in REST_ERROR_CODES:
            problem(spec, "error_code", f"rest.errors {reason!r}: error_code is one of "
                    f"{', '.join(REST_ERROR_CODES)}")
            continue
        if not isinstance(summary, str) or not summary.strip():
            problem(spec, "summary", f"rest.errors {reason!r}: summary is a text")
            continue
        errors[str(reason)] = RestError(status, str(code), summary, given.line_of(reason))
    return errors
