"""The table and compose filters (configured tables, composed names) and verify.must_match,
in a rule run by the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.tokens import TokenIssuer
from bridge.rules.engine import EngineContext, RuleEngine
from bridge.rules.model import compile_rule
from bridge.store import MemoryStore

RULE = """
operation: List_GetByCompany
input:
  username: {path: header.H.Username, required: true}
  token: {path: header.H.Token, secret: true, required: true}
  domain: header.H.Domain
  type: body.EmployeeType
  person: body.Person
verify:
  strategy: local
  password: token
  must_match: {domain: "{{ vars.nmbrs.subdomain }}"}
result:
  R:
    Rest: "{{ input.type | table('nmbrs.employee_types', 'id', 'rest') }}"
    Name: "{{ input.person | compose('firstName prefix lastName') }}"
refusals:
  reasons:
    invalid_credentials: {fault: Server, message: "1001: Invalid Authentication"}
"""
VARS = {"nmbrs": {"subdomain": "acmepayroll", "employee_types": [
    {"id": 1, "rest": "applicant"}, {"id": 2, "rest": "payroll"}]}}


class _Everyone:
    """Credentials that always verify: these tests are about what comes before and after."""

    def verify(self, username: str, password: str) -> Any:
        from bridge.auth.passwords import Verdict

        return Verdict(True)


def _run(tmp_path: Path, body: dict[str, Any], domain: str | None = None) -> Any:
    path = tmp_path / "rule.yaml"
    path.write_text(RULE)
    store = MemoryStore()
    engine = RuleEngine(EngineContext(
        upstreams={}, store=store, tokens=TokenIssuer(store), lockout=Lockout(store, LockoutPolicy()),
        secrets={}, vars=VARS, token_ttl=60, state_key=b"k" * 32,
        credentials=_Everyone()))  # type: ignore[arg-type]
    header = {"Username": "u", "Token": "t", **({"Domain": domain} if domain is not None else {})}
    return engine.run(compile_rule(str(path)), {"body": body, "header": {"H": header}})


def test_a_configured_table_maps_an_int_to_its_rest_string(tmp_path: Path) -> None:
    assert _run(tmp_path, {"EmployeeType": "2"}).result == {"R": {"Rest": "payroll"}}
    assert _run(tmp_path, {"EmployeeType": 9}).result == {"R": {}}


def test_a_display_name_is_composed_of_the_parts_given(tmp_path: Path) -> None:
    person = {"firstName": "Sanne", "prefix": "van", "lastName": "Dijk"}
    assert _run(tmp_path, {"Person": person}).result == {"R": {"Name": "Sanne van Dijk"}}
    person = {"firstName": " Daan ", "prefix": None, "lastName": "Bakker"}
    assert _run(tmp_path, {"Person": person}).result == {"R": {"Name": "Daan Bakker"}}


def test_an_optional_input_given_must_match(tmp_path: Path) -> None:
    assert _run(tmp_path, {}, domain="AcmePayroll").result is not None
    assert _run(tmp_path, {}, domain="").result is not None  # empty counts as not given
    wrong = _run(tmp_path, {}, domain="acmepayroll.nmbrs.nl")
    assert wrong.reason == "invalid_credentials" and wrong.fault is not None
    assert wrong.fault.message == "1001: Invalid Authentication"
