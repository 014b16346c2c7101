"""The Nmbrs pack end to end: a real sandbox (legacy SOAP, identity service, REST), bridges
started from examples/nmbrs.yaml (its `sandbox` URLs pointed at that sandbox), grants
connected and ids mapped by the real commands, and the field's clients built from the served
WSDLs: zeep (the Python SDK's stack), suds and PHP's SoapClient, each sending the header as
connectors do and reading faults by its own rule (`---> 1001:` substring, `\\d{4}:` regex).

Also: a verifier learned while the legacy service checked a token still authenticates when
`legacy:` is removed from the configuration; minted ids agree across two bridges on one
Redis; a shadow and a verify comparison show agreement in `soap-bridge report`."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import zeep
import zeep.exceptions
from suds import WebFault
from suds.client import Client as SudsClient

from bridge.rules.ids import MINT_FLOOR, IdMap
from bridge.sandbox.nmbrs.seed import load_nmbrs_seed
from bridge.store.sqlite import SqliteStore
from tests.servers import REPO, Server, start_bridge, start_sandbox

SEED = load_nmbrs_seed()
MASTER = next(u for u in SEED.users if u.master)            # Acme Holding's master login
BAKERY = next(u for u in SEED.users if u.debtor == 40002)   # Bakkerij de Vries only
BAKERY_COMPANY = next(c for c in SEED.companies() if c.debtor_id == 40002)
ACME_BOUW = SEED.company(60001)
NS = "https://api.nmbrs.nl/soap/v3/"
# How the field recognises Nmbrs' errors (FACTS §3.1).
CODE = re.compile(r"\d{4}:")
STATE_KEY = "nmbrs-e2e-state-key-" + "0" * 20
CALL_PHP = REPO / "tests" / "clients" / "php" / "call.php"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _environment() -> dict[str, str]:
    # The demo credentials come from the sandbox's seed, named as a real deployment would.
    client = SEED.identity.clients[0]
    return {"NMBRS_CLIENT_SECRET": client.client_secret,
            "NMBRS_SUBSCRIPTION_KEY": SEED.subscription_keys[0],
            "NMBRS_SUBSCRIPTION_KEY_2": SEED.subscription_keys[1],
            "SOAP_BRIDGE_STATE_KEY": STATE_KEY}


def _config(workdir: Path, sandbox: Server, store: str, legacy: bool = True,
            routing: str = "") -> Path:
    """examples/nmbrs.yaml, aimed at the test's sandbox instead of the in-process one."""
    text = (REPO / "examples" / "nmbrs.yaml").read_text()
    text = (text.replace("base_url: sandbox", f"base_url: {sandbox.url}")
            .replace("identity: sandbox", f"identity: {sandbox.url}")
            .replace("sandbox: {}\n", "").replace("    auto_connect: true\n", "")
            .replace("../wsdl/", f"{REPO}/wsdl/").replace("../mappings/", f"{REPO}/mappings/")
            .replace("sqlite:///state/nmbrs.sqlite3", json.dumps(store))
            .replace("SOAP_BRIDGE_DEMO_NMBRS_", "NMBRS_"))
    if not legacy:
        text = re.sub(r"\nlegacy: \{[^}]*\}\n", "\n", text).replace("unmapped: legacy",
                                                                      "unmapped: fault")
    assert ": sandbox" not in text and "sandbox:" not in text
    if routing:
        text = re.sub(r"\nrouting:\n(  .*\n)+", "\n" + routing.lstrip("\n"), text)
    path = workdir / f"nmbrs-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    return path


def _cli(workdir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "bridge", *args], cwd=workdir, input=stdin,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **_environment()})
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _connect(workdir: Path, config: Path, *users: Any) -> None:
    for user in users:
        _cli(workdir, "connect", "nmbrs", "--config", str(config), "--user", user.username,
             "--auto")


@pytest.fixture(scope="module")
def nmbrs_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Its own sandbox: the session's is reset between tests, which would revoke the grants.
    server = start_sandbox(tmp_path_factory.mktemp("nmbrs-sandbox"))
    yield server
    server.stop()


SIDE_BY_SIDE = """
routing:
  default: rest
  unmapped: legacy
  operations:
    CompanyService.List_GetByDebtor: {mode: shadow}
    EmployeeService.List_GetByCompany: {mode: verify}
"""


@pytest.fixture(scope="module")
def bridge(nmbrs_sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A bridge whose ids were mapped from the converters before the shutdown, as the
    migration guide says; List_GetByDebtor in shadow and List_GetByCompany in verify."""
    workdir = tmp_path_factory.mktemp("nmbrs-bridge")
    store = f"sqlite:///{workdir}/state.sqlite3"
    config = _config(workdir, nmbrs_sandbox, store, routing=SIDE_BY_SIDE)
    _connect(workdir, config, MASTER, BAKERY)
    mapped = _cli(workdir, "nmbrs", "map-ids", "--config", str(config), "--user",
                  MASTER.username, "--token-stdin", stdin=MASTER.token + "\n")
    assert "company: 133 written" in mapped.stdout, mapped.stdout
    server = start_bridge(workdir, config, workers=1, env=_environment())
    server.extra.update(config=config, store=store, workdir=workdir)
    yield server
    server.stop()


def _wsdl(server: Server, service: str) -> str:
    return f"{server.url}/soap/v3/{service}.asmx?WSDL"


def _auth(user: Any, domain: str | None = None) -> dict[str, Any]:
    members = {"Username": user.username, "Token": user.token}
    if domain is not None:
        members["Domain"] = domain
    return {"AuthHeaderWithDomain": members}


# -- zeep -----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["CompanyServiceSoap", "CompanyServiceSoap12"])
def test_zeep_lists_companies_from_rest_with_the_legacy_ids(bridge: Server, port: str) -> None:
    companies = zeep.Client(_wsdl(bridge, "CompanyService")).bind("CompanyService", port)

    listed = companies.List_GetAll(_soapheaders=_auth(BAKERY, "acmepayroll"))
    by_debtor = companies.List_GetByDebtor(DebtorId=40002, _soapheaders=_auth(BAKERY))

    (company,) = listed
    assert (company.ID, company.Number, company.Name) == (
        BAKERY_COMPANY.id, BAKERY_COMPANY.number, BAKERY_COMPANY.name)
    assert company.LoonaangifteTijdvak == "Month"   # required: always written
    assert company.PhoneNumber is None and company.KvkNr is None  # REST has none: left out
    assert [c.ID for c in by_debtor] == [BAKERY_COMPANY.id]


def test_a_bridge_with_a_state_key_does_not_warn_of_it(bridge: Server) -> None:
    assert "SOAP_BRIDGE_STATE_KEY" not in bridge.stderr.read_text()


def test_zeep_follows_every_rest_page_and_learns_the_domain(bridge: Server) -> None:
    debtors = zeep.Client(_wsdl(bridge, "DebtorService")).service
    environment = debtors.Environment_Get(
        _soapheaders={"AuthHeader": {"Username": MASTER.username, "Token": MASTER.token}})
    companies = zeep.Client(_wsdl(bridge, "CompanyService")).service

    listed = companies.List_GetAll(_soapheaders=_auth(MASTER, environment.SubDomain))

    assert (environment.Domain, environment.SubDomain) == ("acmepayroll.nmbrs.nl", "acmepayroll")
    acme = next(d for d in SEED.debtors if d.id == 40001)
    assert len(listed) == len(acme.companies) > 100  # two REST pages of at most 100
    assert {c.ID for c in listed} == {c.id for c in acme.companies}
    assert [(d.Id, d.Name) for d in debtors.List_GetAll(_soapheaders=_auth(MASTER))] == [
        (40001, "Acme Holding")]   # REST works per debtor: the grant's own


def test_zeep_faults_carry_the_code_the_sdk_looks_for(bridge: Server) -> None:
    companies = zeep.Client(_wsdl(bridge, "CompanyService")).service
    employees = zeep.Client(_wsdl(bridge, "EmployeeService")).service
    cases = [
        (lambda: companies.List_GetAll(_soapheaders=_auth(
            dataclasses.replace(BAKERY, token="0" * 32))), "---> 1001:"),
        (lambda: companies.List_GetAll(_soapheaders=_auth(BAKERY, "someone-else")), "---> 1001:"),
        # Acme's grant asked for the bakery's company: REST 403.
        (lambda: employees.List_GetByCompany(CompanyId=BAKERY_COMPANY.id, EmployeeType=2,
                                             _soapheaders=_auth(MASTER)), "---> 1002:"),
        # An int no pair and no mint knows reaches no company: REST 404.
        (lambda: employees.List_GetByCompany(CompanyId=123, EmployeeType=2,
                                             _soapheaders=_auth(MASTER)), "---> 2046:"),
    ]
    for call, token in cases:
        with pytest.raises(zeep.exceptions.Fault) as caught:
            call()
        assert token in str(caught.value), str(caught.value)
        assert caught.value.code == "soap:Server"
        assert str(caught.value).startswith("Server was unable to process request. ---> ")


def test_repeated_wrong_tokens_lock_the_user_out_in_nmbrs_words(
        bridge: Server, nmbrs_sandbox: Server) -> None:
    # examples/nmbrs.yaml: lockout {max_failures: 5}, as for AssureSign; the refusal stays
    # Nmbrs' 1001 (a locked user is told nothing else), and Nmbrs is no longer asked.
    user = next(u for u in SEED.users if u not in (MASTER, BAKERY))
    companies = zeep.Client(_wsdl(bridge, "CompanyService")).service

    def checks() -> int:
        calls = requests.get(f"{nmbrs_sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
        return int(calls.get("nmbrs:DebtorService.Environment_Get", 0))

    before = checks()
    for guess in range(5):
        with pytest.raises(zeep.exceptions.Fault) as caught:
            companies.List_GetAll(_soapheaders=_auth(dataclasses.replace(user, token=f"{guess}" * 32)))
        assert "---> 1001:" in str(caught.value)
    assert checks() == before + 5
    with pytest.raises(zeep.exceptions.Fault) as caught:
        companies.List_GetAll(_soapheaders=_auth(user))          # the right token, locked
    assert CODE.search(str(caught.value)) and "---> 1001:" in str(caught.value)
    assert checks() == before + 5


# -- suds -----------------------------------------------------------------------------------


def test_suds_reads_employees_with_their_legacy_ids(bridge: Server) -> None:
    client = SudsClient(_wsdl(bridge, "EmployeeService"), cache=None)
    auth = client.factory.create(f"{{{NS}EmployeeService}}AuthHeaderWithDomain")
    auth.Username, auth.Token = MASTER.username, MASTER.token
    client.set_options(soapheaders=auth)

    answer = client.service["EmployeeServiceSoap"].List_GetByCompany(CompanyId=ACME_BOUW.id,
                                                                     EmployeeType=2)
    types = client.service["EmployeeServiceSoap"].EmployeeType_GetList()

    assert [(e.Id, e.Number, e.DisplayName) for e in answer.Employee] == [
        (90001, 17, "Sanne van Dijk"), (90002, 18, "Daan Bakker")]
    assert {t.Id: t.Description for t in types.EmployeeType}[2] == "Payroll"


def test_a_type_the_table_does_not_know_lists_nobody_as_nmbrs_does(
        bridge: Server, nmbrs_sandbox: Server) -> None:
    # REST given `employeeType=` (the table has no string for 99) would list every employee.
    on_rest = zeep.Client(_wsdl(bridge, "EmployeeService")).service
    on_soap = zeep.Client(f"{REPO}/wsdl/nmbrs/EmployeeService.wsdl").create_service(
        f"{{{NS}EmployeeService}}EmployeeServiceSoap",
        f"{nmbrs_sandbox.url}/soap/v3/EmployeeService.asmx")
    calls = requests.get(f"{nmbrs_sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
    since = time.time() - 0.001

    for service in (on_rest, on_soap):
        assert not service.List_GetByCompany(CompanyId=ACME_BOUW.id, EmployeeType=99,
                                             _soapheaders=_auth(MASTER))
    after = requests.get(f"{nmbrs_sandbox.url}/_sandbox/stats", timeout=5).json()["calls"]
    employee_calls = {name: count for name, count in after.items()
                      if "employees" in name and count != calls.get(name)}
    assert employee_calls == {}, "REST was asked for employees of an unknown type"
    # A known type still lists its employees.
    assert [e.Id for e in on_rest.List_GetByCompany(CompanyId=ACME_BOUW.id, EmployeeType=2,
                                                    _soapheaders=_auth(MASTER))] == [90001, 90002]
    # The operation is in verify mode: both calls were compared with Nmbrs' answer, and agreed.
    # (Waited for here, so that no other test's report counts them.)
    store = SqliteStore(str(bridge.extra["workdir"] / "state.sqlite3"))
    deadline = time.monotonic() + 15
    try:
        while len(records := store.records("comparisons", since=since)) < 2:
            assert time.monotonic() < deadline, records
            time.sleep(0.05)
    finally:
        store.close()
    assert [record["outcome"] for record in records] == ["agree", "agree"], records


def test_suds_sends_one_derived_header_object_to_every_operation(bridge: Server) -> None:
    # An SDK makes one AuthHeaderWithDomain and sets it for every call: for Environment_Get,
    # which declares AuthHeader, suds writes <AuthHeader xsi:type="ns1:AuthHeaderWithDomain">,
    # the prefix declared on the Envelope.
    client = SudsClient(_wsdl(bridge, "DebtorService"), cache=None)
    auth = client.factory.create(f"{{{NS}DebtorService}}AuthHeaderWithDomain")
    auth.Username, auth.Token, auth.Domain = MASTER.username, MASTER.token, "acmepayroll"
    client.set_options(soapheaders=auth)

    environment = client.service["DebtorServiceSoap"].Environment_Get()

    assert (environment.Domain, environment.SubDomain) == ("acmepayroll.nmbrs.nl", "acmepayroll")
    assert 'xsi:type="ns1:AuthHeaderWithDomain"' in str(client.last_sent())


@pytest.mark.parametrize("namespace", [NS + "EmployeeService",
                                       "https://api-sandbox.nmbrs.nl/soap/v3/EmployeeService"])
def test_xsi_types_with_prefixes_declared_on_the_envelope(bridge: Server, namespace: str) -> None:
    # PHP's SoapVar and SOAP toolkits type each value (xsi:type="xsd:int"), the prefixes
    # declared once on the Envelope; in the sandbox host's namespace too.
    envelope = (
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:ns1="{namespace}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><SOAP-ENV:Header>'
        '<ns1:AuthHeaderWithDomain xsi:type="ns1:AuthHeaderWithDomain">'
        f'<ns1:Username xsi:type="xsd:string">{MASTER.username}</ns1:Username>'
        f'<ns1:Token xsi:type="xsd:string">{MASTER.token}</ns1:Token></ns1:AuthHeaderWithDomain>'
        '</SOAP-ENV:Header><SOAP-ENV:Body><ns1:List_GetByCompany>'
        f'<ns1:CompanyId xsi:type="xsd:int">{ACME_BOUW.id}</ns1:CompanyId>'
        '<ns1:EmployeeType xsi:type="xsd:int">2</ns1:EmployeeType>'
        '</ns1:List_GetByCompany></SOAP-ENV:Body></SOAP-ENV:Envelope>')

    answer = requests.post(f"{bridge.url}/soap/v3/EmployeeService.asmx", data=envelope.encode(),
                           headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)

    assert answer.status_code == 200, answer.text
    assert re.findall(r"<(?:\w+:)?Id>(\d+)<", answer.text) == ["90001", "90002"]


def test_suds_surfaces_the_fault_text_as_asmx_writes_it(bridge: Server) -> None:
    client = SudsClient(_wsdl(bridge, "DebtorService"), cache=None)

    with pytest.raises(WebFault) as caught:
        client.service["DebtorServiceSoap"].List_GetAll()   # no header at all

    assert caught.value.fault.faultcode == "soap:Server"
    assert caught.value.fault.faultstring.startswith(
        "Server was unable to process request. ---> 1001: Invalid Authentication")


# -- PHP SoapClient ---------------------------------------------------------------------------


def _php(server: Server, service: str, soap_version: str, operation: str,
         parameters: dict[str, Any], header_ns: str, header: dict[str, str]) -> dict[str, Any]:
    executable = shutil.which("php")
    if executable is None:
        pytest.fail("php is missing: run .ci/ensure-tools", pytrace=False)
    instruction = {"soap_version": soap_version, "operation": operation,
                   "parameters": parameters,
                   "headers": [{"namespace": header_ns, "name": "AuthHeaderWithDomain",
                                "data": header}]}
    done = subprocess.run([executable, str(CALL_PHP), _wsdl(server, service)],
                          input=json.dumps(instruction), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    output: dict[str, Any] = json.loads(done.stdout)
    return output


@pytest.mark.parametrize("soap_version", ["1.1", "1.2"])
@pytest.mark.parametrize("namespace_of", ["nmbrs", "bridge"])
def test_php_soapclient_as_connectors_build_it(bridge: Server, soap_version: str,
                                               namespace_of: str) -> None:
    # Connectors build the header's namespace from the base URL they call: Nmbrs' (the
    # WSDL's), or, pointed at the bridge, the bridge's own (then PHP writes a key/value map).
    base = NS if namespace_of == "nmbrs" else f"{bridge.url}/soap/v3/"
    auth = {"Username": MASTER.username, "Token": MASTER.token, "Domain": "acmepayroll"}

    output = _php(bridge, "EmployeeService", soap_version, "List_GetByCompany",
                  {"CompanyId": ACME_BOUW.id, "EmployeeType": 4}, base + "EmployeeService", auth)

    assert "fault" not in output, output
    employee = output["result"]["List_GetByCompanyResult"]["Employee"]  # a lone item
    assert (employee["Id"], employee["Number"]) == (90003, 19)


@pytest.mark.parametrize("soap_version", ["1.1", "1.2"])
def test_php_faults_match_the_connectors_regex(bridge: Server, soap_version: str) -> None:
    auth = {"Username": MASTER.username, "Token": "f" * 32}

    output = _php(bridge, "CompanyService", soap_version, "List_GetAll", {},
                  NS + "CompanyService", auth)

    match = CODE.search(output["fault"]["faultstring"])
    assert match is not None and match.group(0) == "1001:"


# -- side by side ----------------------------------------------------------------------------


def test_shadow_and_verify_comparisons_agree_in_the_report(bridge: Server) -> None:
    # Only this test's comparisons: others here make REST and SOAP differ on purpose (a
    # master login that REST, per debtor, cannot be; a display name the seed spells out).
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(milliseconds=1)
    companies = zeep.Client(_wsdl(bridge, "CompanyService")).service
    employees = zeep.Client(_wsdl(bridge, "EmployeeService")).service
    companies.List_GetByDebtor(DebtorId=40002, _soapheaders=_auth(BAKERY))       # shadow
    employees.List_GetByCompany(CompanyId=BAKERY_COMPANY.id, EmployeeType=2,
                                _soapheaders=_auth(BAKERY))                    # verify
    with pytest.raises(zeep.exceptions.Fault):   # verify: both sides refuse the token alike
        employees.List_GetByCompany(CompanyId=BAKERY_COMPANY.id, EmployeeType=2,
                                    _soapheaders=_auth(dataclasses.replace(BAKERY, token="0" * 32)))

    store = SqliteStore(str(bridge.extra["workdir"] / "state.sqlite3"))
    deadline = time.monotonic() + 15
    try:
        while len(records := store.records("comparisons", since=since.timestamp())) < 3:
            assert time.monotonic() < deadline, records
            time.sleep(0.05)
    finally:
        store.close()
    done = _cli(bridge.extra["workdir"], "report", "--config", str(bridge.extra["config"]),
                "--format", "json", "--since", since.isoformat())
    report = {entry["operation"]: entry for entry in json.loads(done.stdout)["operations"]}
    for operation, compared in (("CompanyService.List_GetByDebtor", 1),
                                ("EmployeeService.List_GetByCompany", 2)):
        assert report[operation]["compared"] == compared, report
        assert report[operation]["agreed"] == report[operation]["compared"], report[operation]


# -- after the shutdown ------------------------------------------------------------------------


def test_a_learned_token_authenticates_after_legacy_is_removed(
        bridge: Server, nmbrs_sandbox: Server) -> None:
    debtors = zeep.Client(_wsdl(bridge, "DebtorService")).service
    header = {"AuthHeader": {"Username": BAKERY.username, "Token": BAKERY.token}}
    assert debtors.Environment_Get(_soapheaders=header).SubDomain == "acmepayroll"

    workdir = bridge.extra["workdir"]
    config = _config(workdir, nmbrs_sandbox, bridge.extra["store"], legacy=False)
    retired = start_bridge(workdir / "retired", config, workers=1, env=_environment())
    try:
        after = zeep.Client(_wsdl(retired, "DebtorService")).service
        assert after.Environment_Get(_soapheaders=header).SubDomain == "acmepayroll"
        companies = zeep.Client(_wsdl(retired, "CompanyService")).service
        assert [c.ID for c in companies.List_GetAll(_soapheaders=_auth(BAKERY))] == [
            BAKERY_COMPANY.id]
        # A token never learned (changed, or someone else's) is refused: nobody can vouch.
        for token in ("0" * 32, MASTER.token):
            with pytest.raises(zeep.exceptions.Fault) as caught:
                after.Environment_Get(_soapheaders={"AuthHeader": {
                    "Username": BAKERY.username, "Token": token}})
            assert "---> 1001:" in str(caught.value)
        # An operation without a rule has nowhere to go: Nmbrs' generic error, named.
        sso = zeep.Client(_wsdl(retired, "SingleSignOn")).service
        with pytest.raises(zeep.exceptions.Fault) as caught:
            sso.GetToken2(Username=BAKERY.username, Token=BAKERY.token)
        assert "---> 9999:" in str(caught.value) and "GetToken2" in str(caught.value)
    finally:
        retired.stop()


def test_minted_ids_agree_across_two_bridges_on_one_redis(
        nmbrs_sandbox: Server, tmp_path: Path) -> None:
    prefix = f"test-nmbrs-{uuid.uuid4().hex}:"
    store = f"{REDIS_URL}?prefix={prefix}"
    config = _config(tmp_path, nmbrs_sandbox, store)   # no map-ids: every GUID is minted
    _connect(tmp_path, config, BAKERY)
    first = start_bridge(tmp_path / "one", config, workers=1, env=_environment())
    second = start_bridge(tmp_path / "two", config, workers=1, env=_environment())
    try:
        seen = []
        for server in (first, second, first):
            service = zeep.Client(_wsdl(server, "CompanyService")).service
            seen.append([c.ID for c in service.List_GetAll(_soapheaders=_auth(BAKERY))])
        assert seen[0] == seen[1] == seen[2]
        (minted,) = seen[0]
        assert minted >= MINT_FLOOR
        # The int leads back to the company on either bridge.
        employees = zeep.Client(_wsdl(second, "EmployeeService")).service
        staff = employees.List_GetByCompany(CompanyId=minted, EmployeeType=2,
                                            _soapheaders=_auth(BAKERY))
        assert [e.Number for e in staff] == [1]
    finally:
        first.stop()
        second.stop()
        raw = redis.Redis.from_url(REDIS_URL)
        for key in raw.scan_iter(match=prefix + "*"):
            raw.delete(key)
        raw.close()


def test_the_example_serves_out_of_the_box_in_demo_mode(tmp_path: Path) -> None:
    # `soap-bridge serve --config examples/nmbrs.yaml`: the in-process sandbox plays Nmbrs,
    # and a user's first request connects its grant by itself.
    demo = start_bridge(tmp_path, REPO / "examples" / "nmbrs.yaml", workers=1)
    try:
        debtors = zeep.Client(_wsdl(demo, "DebtorService")).service
        environment = debtors.Environment_Get(
            _soapheaders={"AuthHeader": {"Username": BAKERY.username, "Token": BAKERY.token}})
        companies = zeep.Client(_wsdl(demo, "CompanyService")).service
        (company,) = companies.List_GetAll(_soapheaders=_auth(BAKERY, environment.SubDomain))
        assert (company.Number, company.Name) == (BAKERY_COMPANY.number, BAKERY_COMPANY.name)
        assert (tmp_path / "state" / "nmbrs.sqlite3").exists()
        banner = demo.stdout.read_text()
        assert "AuthenticateUser" not in banner and "bridge/sandbox/nmbrs/seed.yaml" in banner
        # No SOAP_BRIDGE_STATE_KEY here: what it learns would die with it, and it says so.
        assert "learn verifiers (verify.learn), but SOAP_BRIDGE_STATE_KEY is not set" in \
            demo.stderr.read_text()
    finally:
        demo.stop()


def test_legacy_mode_learns_the_tokens_and_ids_nmbrs_gave_as_it_passes_them(
        nmbrs_sandbox: Server, tmp_path: Path) -> None:
    from bridge.auth.verifiers import LearnedVerifiers

    user = next(u for u in SEED.users if u not in (MASTER, BAKERY))
    store = f"sqlite:///{tmp_path}/state.sqlite3"
    passing = _config(tmp_path, nmbrs_sandbox, store,
                      routing="routing:\n  default: legacy\n  unmapped: legacy\n")
    _connect(tmp_path, passing, user)   # so the side path can see REST's GUIDs beside
    # A token learned once that Nmbrs has revoked since (regenerated, an employee gone).
    revoked = dataclasses.replace(BAKERY, token="2" * 32)
    imported = SqliteStore(str(tmp_path / "state.sqlite3"))
    LearnedVerifiers(imported, STATE_KEY.encode()).learn(revoked.username, revoked.token)
    imported.close()
    before = start_bridge(tmp_path / "legacy", passing, workers=1, env=_environment())
    try:
        companies = zeep.Client(_wsdl(before, "CompanyService")).service
        with pytest.raises(zeep.exceptions.Fault):        # Nmbrs' 1001 for the revoked token
            companies.List_GetAll(_soapheaders=_auth(revoked))
        assert len(companies.List_GetAll(_soapheaders=_auth(user))) > 100   # Nmbrs' answer
        with pytest.raises(zeep.exceptions.Fault):                           # Nmbrs' 1001
            companies.List_GetAll(_soapheaders=_auth(dataclasses.replace(user, token="1" * 32)))
        learned = SqliteStore(str(tmp_path / "state.sqlite3"))
        try:
            verifiers = LearnedVerifiers(learned, STATE_KEY.encode())
            deadline = time.monotonic() + 10
            while not verifiers.known(user.username):
                assert time.monotonic() < deadline, "the passed-through token was not learned"
                time.sleep(0.05)
            assert not verifiers.verify(user.username, "1" * 32)
            # The revoked token's verifier went with Nmbrs' refusal: it will not come back
            # to life at the shutdown.
            while verifiers.known(revoked.username):
                assert time.monotonic() < deadline, "a token Nmbrs refused is still learned"
                time.sleep(0.05)
            # And the ids: Nmbrs' ints beside REST's GUIDs, matched by number and name.
            table = IdMap(learned)
            while table.int_of("company", ACME_BOUW.guid, mint=False) is None:
                assert time.monotonic() < deadline + 10, "no id learned in legacy mode"
                time.sleep(0.05)
            assert table.int_of("company", ACME_BOUW.guid, mint=False) == ACME_BOUW.id
            # Employees too, now that their company's GUID is known (the REST call's path).
            staff = zeep.Client(_wsdl(before, "EmployeeService")).service.List_GetByCompany(
                CompanyId=ACME_BOUW.id, EmployeeType=2, _soapheaders=_auth(user))
            assert [e.Id for e in staff] == [90001, 90002]                     # Nmbrs' answer
            sanne = ACME_BOUW.employees[0]
            while table.int_of("employee", sanne.guid, mint=False) is None:
                assert time.monotonic() < deadline + 20, "no employee id learned in legacy mode"
                time.sleep(0.05)
            assert table.int_of("employee", sanne.guid, mint=False) == sanne.id == 90001
        finally:
            learned.close()
    finally:
        before.stop()

    after = start_bridge(tmp_path / "after", _config(tmp_path, nmbrs_sandbox, store, legacy=False),
                         workers=1, env=_environment())
    try:
        debtors = zeep.Client(_wsdl(after, "DebtorService")).service
        header = {"AuthHeader": {"Username": user.username, "Token": user.token}}
        assert debtors.Environment_Get(_soapheaders=header).SubDomain == "acmepayroll"
    finally:
        after.stop()
