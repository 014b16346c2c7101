"""Replay recorded legacy traffic against the REST side and compare each answer with the
recorded legacy one exactly as the live side path does (same rules, same noise, same records),
so the report's figures mean the same; and the pytest contract suite exported from it."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.migrate.compare import CompareRules, Side, compare
from bridge.migrate.marks import ignored
from bridge.migrate.plan import Plan
from bridge.migrate.recording import is_reference, reference, shape, user_references_key
from bridge.migrate.routing import REST, SHADOW
from bridge.migrate.sidejobs import comparison_entry, rest_side, user_key
from bridge.rules.engine import RuleEngine
from bridge.soap.service import SoapService
from bridge.store.base import Store

MODES = (SHADOW, REST)
REPLAY = "replay"
NO_RULE = "no rule for the operation"
CHANGES_DATA = "changes data, and the REST side is no sandbox (--force replays it)"
NO_SECRET = "no secret for the user in --secrets"  # noqa: S105 - a message


@dataclass
class ReplayResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def restore(data: Any, secrets: Any, key: bytes | None = None) -> Any:
    """`data` with each secret reference replaced by the value `secrets` gives: one value for
    every secret field, or a mapping of field name to value. KeyError when one is missing.

    With the key the references were made with (SOAP_BRIDGE_STATE_KEY), a reference the given
    value does not make stays as it is: the recorded secret was another (a wrong password),
    and the replay sends a wrong one too, so a recorded refusal is replayed as a refusal."""
    if isinstance(data, Mapping):
        return {name: _restore_field(name, value, secrets, key) for name, value in data.items()}
    if isinstance(data, list):
        return [restore(item, secrets, key) for item in data]
    return data


def _restore_field(name: str, value: Any, secrets: Any, key: bytes | None) -> Any:
    if not is_reference(value):
        return restore(value, secrets, key)
    if isinstance(secrets, Mapping):
        if name not in secrets:
            raise KeyError(name)
        given = str(secrets[name])
    elif secrets is None:
        raise KeyError(name)
    else:
        given = str(secrets)
    if key is not None and reference(key, given) != value:
        return value
    return given


def settle(legacy: Any, rest: Any, key: bytes | None) -> Any:
    """The recorded legacy answer with each reference that stands for the REST side's value at
    the same path replaced by that value, so a secret both sides share compares equal. With
    the key the references were made with it is checked; without it, assumed."""
    if is_reference(legacy):
        if rest is None or rest == "" or isinstance(rest, Mapping | list):
            return legacy
        return rest if key is None or reference(key, str(rest)) == legacy else legacy
    if isinstance(legacy, Mapping):
        other = rest if isinstance(rest, Mapping) else {}
        return {name: settle(value, other.get(name), key) for name, value in legacy.items()}
    if isinstance(legacy, list):
        others = rest if isinstance(rest, list) else []
        return [settle(item, others[index] if index < len(others) else None, key)
                for index, item in enumerate(legacy)]
    return legacy


class Replayer:
    """Runs recorded requests through the rules engine, against the configured upstreams."""

    def __init__(self, engine: RuleEngine, service: SoapService, plans: Callable[[], Plan],
                 store: Store, state_key: bytes, sandbox: bool,
                 references_key: bytes | None = None) -> None:
        # The key the recording's references were made with, when known (a configured
        # SOAP_BRIDGE_STATE_KEY): it tells a recorded wrong password from the given one.
        self._references_key = references_key
        self._engine = engine
        self._service = service
        self._plans = plans
        self._store = store
        self._state_key = state_key
        self._sandbox = sandbox

    def one(self, entry: Mapping[str, Any], secrets: Mapping[str, Any], mode: str = SHADOW,
            force: bool = False) -> tuple[dict[str, Any] | None, str | None]:
        """The comparison record of one recorded exchange, or why it was skipped."""
        plan = self._plans()
        name = str(entry["operation"])
        rule = plan.rules.get(name)
        operation = self._service.operations.get(name)
        if rule is None or operation is None:
            return None, NO_RULE
        if (rule.changes_data or entry.get("changes_data")) and not (self._sandbox or force):
            return None, CHANGES_DATA
        username = RuleEngine.username(rule, entry["request"]) or ""
        # The user's references were made with a key of the user's own (recording.py).
        key = (user_references_key(self._references_key, username)
               if self._references_key is not None else None)
        try:
            request = restore(entry["request"], _for_user(secrets, username), key)
        except KeyError:
            return None, NO_SECRET
        started = time.perf_counter()
        # shadow: a dry run, as shadow mode makes it (no lockout, no token kept).
        outcome = self._engine.run(rule, request, dry_run=mode == SHADOW)
        rest = rest_side(self._service, operation, outcome,
                         (time.perf_counter() - started) * 1000)
        recorded = entry["legacy"]
        legacy = Side(recorded["kind"], settle(recorded["data"], rest.data, key),
                      float(recorded.get("ms") or 0.0))
        differences = compare(legacy, rest, plan.compare.get(name) or CompareRules(),
                              ignored(self._store, name))
        record = comparison_entry(name, REPLAY, None, user_key(self._state_key, username),
                                  differences, legacy, rest, outcome)
        record["ts"] = float(entry.get("ts") or record["ts"])
        return record, None

    def run(self, entries: Sequence[Mapping[str, Any]], secrets: Mapping[str, Any],
            mode: str = SHADOW, rate: float | None = None, force: bool = False) -> ReplayResult:
        """Every entry, at most `rate` a second."""
        result = ReplayResult()
        started = time.monotonic()
        for index, entry in enumerate(entries):
            if rate:
                wait = started + index / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            record, skipped = self.one(entry, secrets, mode, force)
            if record is not None:
                result.records.append(record)
            else:
                result.skipped[skipped or "?"] += 1
        return result


def _for_user(secrets: Mapping[str, Any], username: str) -> Any:
    from bridge.identity import identity

    wanted = identity(username)
    for user, value in secrets.items():
        if identity(str(user)) == wanted:
            return value
    return secrets.get("*")


def load_secrets(path: str | None) -> dict[str, Any]:
    """A replay's secrets file: YAML mapping each user name (or `*`, anyone) to the password
    (or to a mapping of secret field name to value). ValueError when it is not one."""
    if path is None:
        return {}
    import yaml

    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ValueError(f"{path}{line}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: map each user name to a password, or to field: value")
    return {str(user): value for user, value in data.items()}


# -- the exported contract suite ------------------------------------------------------------

_CONFTEST = '''"""Contract tests exported by `soap-bridge replay --export-tests`: each case is a recorded
legacy exchange; the REST side (through the bridge's rules) must answer it as the legacy
service did. Run with soap-bridge installed: SOAP_BRIDGE_CONFIG names the configuration whose
upstreams to test (default: the one it was exported with), SOAP_BRIDGE_REPLAY_SECRETS the
secrets file (user: password) for the recorded users."""

from __future__ import annotations

import os

import pytest

from bridge.migration import ContractRunner

CONFIG = {config!r}
SECRETS = {secrets!r}


@pytest.fixture(scope="session")
def runner():
    found = ContractRunner.open(os.environ.get("SOAP_BRIDGE_CONFIG", CONFIG),
                                os.environ.get("SOAP_BRIDGE_REPLAY_SECRETS", SECRETS) or None)
    yield found
    found.close()
'''

_TESTS = '''"""One test per distinct request shape recorded (cases/*.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_rest_answers_as_the_legacy_service_did(case, runner):
    differences = runner.check(json.loads(case.read_text(encoding="utf-8")))
    assert differences == [], "\\n".join(differences)
'''


def export_tests(entries: Sequence[Mapping[str, Any]], directory: str, config: str,
                 secrets: str | None) -> int:
    """Write the suite: one case per distinct request shape (the first recorded of each)."""
    cases: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        cases.setdefault(f"{entry['operation']}-{shape(entry)}", entry)
    folder = Path(directory)
    (folder / "cases").mkdir(parents=True, exist_ok=True)
    for name, entry in cases.items():
        (folder / "cases" / f"{name}.json").write_text(
            json.dumps(entry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "conftest.py").write_text(_CONFTEST.format(
        config=os.path.abspath(config), secrets=os.path.abspath(secrets) if secrets else ""),
        encoding="utf-8")
    (folder / "test_contract.py").write_text(_TESTS, encoding="utf-8")
    return len(cases)
