"""Several WSDLs in one deployment (`services:`, bridge/services.py) and the operation keys
they give: `Service.Operation` when several services are served, resolved from what rules and
the routing write, each problem at its file:line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.check import check_rules, routing_for
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.soap.service import SoapService

REPO = Path(__file__).resolve().parents[1]
NMBRS = REPO / "wsdl" / "nmbrs"
SERVICES = ("DebtorService", "CompanyService", "EmployeeService", "SingleSignOn")
RULES = REPO / "tests" / "fixtures" / "nmbrs" / "mappings"


@pytest.fixture(scope="module")
def service() -> SoapService:
    return SoapService([str(NMBRS / f"{name}.wsdl") for name in SERVICES])


def _write(tmp_path: Path, **settings: Any) -> Path:
    config = {"services": [{"wsdl": str(NMBRS / f"{name}.wsdl"), "path": f"/soap/v3/{name}.asmx"}
                           for name in SERVICES],
              "mappings": [str(tmp_path / "mappings")], "store": "memory://",
              "upstreams": {"modern": {"base_url": "https://modern.example"}},
              "vars": {"nmbrs_domain": "x"}, **settings}
    if not (tmp_path / "mappings").exists():
        shutil.copytree(RULES, tmp_path / "mappings")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    return [str(problem) for problem in caught.value.problems]


def test_services_are_read_in_order_with_the_fault_style(tmp_path: Path) -> None:
    config = load_config(str(_write(tmp_path, fault_style="asmx")))

    assert [(Path(s.wsdl).name, s.path) for s in config.served] == [
        (f"{name}.wsdl", f"/soap/v3/{name}.asmx") for name in SERVICES]
    assert config.fault_style == "asmx"
    # The first one stands for the single-WSDL settings other parts still read.
    assert (Path(config.wsdl).name, config.wsdl_path) == ("DebtorService.wsdl",
                                                          "/soap/v3/DebtorService.asmx")


def test_without_services_wsdl_is_the_one_service(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"wsdl: {NMBRS / 'SingleSignOn.wsdl'}\nwsdl_path: /sso.asmx\n")
    config = load_config(str(path))

    assert [(s.wsdl, s.path) for s in config.served] == [(config.wsdl, "/sso.asmx")]
    assert config.fault_style == "wcf"


def test_services_problems_are_told_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "wsdl: a.wsdl\n"
        "services:\n"
        f"  - {{wsdl: {NMBRS / 'DebtorService.wsdl'}, path: /a.asmx}}\n"
        "  - {wsdl: missing.wsdl, path: /b.asmx}\n"
        f"  - {{wsdl: {NMBRS / 'CompanyService.wsdl'}, path: /a.asmx}}\n"
        f"  - {{wsdl: {NMBRS / 'CompanyService.wsdl'}, path: no-slash}}\n"
        "  - {wsdl: x.wsdl}\n"
        "fault_style: soap\n")

    assert _problems(path) == [
        f"{path}:8: fault_style must be one of wcf, asmx",
        f"{path}:1: wsdl and services: describe the same thing: give each WSDL as a services: "
        "entry {wsdl: FILE, path: /url/path}",
        f"{path}:4: WSDL file not found: {tmp_path / 'missing.wsdl'}",
        f"{path}:5: path /a.asmx is already the path of services entry 1",
        f"{path}:6: path is the URL path the WSDL is served at, beginning with / and without a "
        "query",
        f"{path}:7: a services entry is {{wsdl: FILE, path: /url/path}}",
    ]


def test_operations_are_keyed_by_service_when_several_are_served(service: SoapService) -> None:
    assert {"DebtorService.List_GetAll", "CompanyService.List_GetAll",
            "SingleSignOn.GetToken"} <= set(service.operations)
    assert service.resolve("List_GetByDebtor") == ("CompanyService.List_GetByDebtor", "")
    assert service.resolve("CompanyService.List_GetAll") == ("CompanyService.List_GetAll", "")
    assert service.resolve("List_GetAll") == (None, (
        "operation 'List_GetAll' is in several services (CompanyService, DebtorService): write "
        "CompanyService.List_GetAll or DebtorService.List_GetAll"))
    assert service.resolve("EmployeeService.List_GetAll")[0] is None


def test_one_service_keeps_bare_names() -> None:
    one = SoapService(str(REPO / "wsdl" / "DocumentNOW.wsdl"))

    assert "AuthenticateUser" in one.operations
    assert one.resolve("DocumentNOW.AuthenticateUser") == ("AuthenticateUser", "")


def test_two_wsdls_with_one_service_name_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "Other.wsdl"
    copy.write_text((NMBRS / "DebtorService.wsdl").read_text().replace(
        "/soap/v3/DebtorService.asmx", "/other.asmx"))

    with pytest.raises(ConfigError, match="wsdl:service DebtorService is also in"):
        SoapService([str(NMBRS / "DebtorService.wsdl"), str(copy)])


def test_two_services_at_one_endpoint_path_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "Other.wsdl"
    copy.write_text((NMBRS / "CompanyService.wsdl").read_text().replace(
        '<wsdl:service name="CompanyService">', '<wsdl:service name="OtherService">').replace(
        "/soap/v3/CompanyService.asmx", "/soap/v3/DebtorService.asmx"))

    with pytest.raises(ConfigError) as caught:
        SoapService([str(NMBRS / "DebtorService.wsdl"), str(copy)])

    assert "services DebtorService and OtherService are both at /soap/v3/DebtorService.asmx" in (
        str(caught.value))


def test_rules_are_keyed_by_their_qualified_names(tmp_path: Path, service: SoapService) -> None:
    rules, problems = check_rules(load_config(str(_write(tmp_path))), service)

    assert problems == []
    assert sorted(rules) == ["CompanyService.List_GetAll", "DebtorService.Environment_Get",
                             "DebtorService.List_GetAll"]
    # A rule that wrote the bare name carries the key from then on.
    assert rules["DebtorService.Environment_Get"].operation == "DebtorService.Environment_Get"


def test_an_ambiguous_rule_name_is_told_at_its_line(tmp_path: Path, service: SoapService) -> None:
    path = _write(tmp_path)
    rule = tmp_path / "mappings" / "company-list.yaml"
    rule.write_text(rule.read_text().replace("operation: CompanyService.List_GetAll",
                                             "operation: List_GetAll"))
    line = next(number for number, text in enumerate(rule.read_text().splitlines(), 1)
                if text.startswith("operation:"))

    _, problems = check_rules(load_config(str(path)), service)

    assert [str(problem) for problem in problems] == [
        f"{rule}:{line}: operation 'List_GetAll' is in several services (CompanyService, "
        "DebtorService): write CompanyService.List_GetAll or DebtorService.List_GetAll"]


def test_two_spellings_of_one_operation_are_two_rules_for_it(tmp_path: Path,
                                                             service: SoapService) -> None:
    path = _write(tmp_path)
    source = tmp_path / "mappings" / "environment-get.yaml"
    (tmp_path / "mappings" / "again.yaml").write_text(source.read_text().replace(
        "operation: Environment_Get ", "operation: DebtorService.Environment_Get "))

    _, problems = check_rules(load_config(str(path)), service)

    assert len(problems) == 1
    assert "operation DebtorService.Environment_Get already has a rule in" in str(problems[0])


def test_routing_names_resolve_to_keys(tmp_path: Path, service: SoapService) -> None:
    config = load_config(str(_write(tmp_path, routing={"operations": {
        "Environment_Get": "rest", "CompanyService.List_GetAll": "rest"}})))

    routing = routing_for(config.routing, service)

    assert set(routing.operations) == {"DebtorService.Environment_Get",
                                       "CompanyService.List_GetAll"}
    assert routing.operations["DebtorService.Environment_Get"].operation == (
        "DebtorService.Environment_Get")


def test_ambiguous_and_twice_routed_names_are_problems(tmp_path: Path,
                                                       service: SoapService) -> None:
    path = _write(tmp_path, routing={"operations": {
        "List_GetAll": "rest", "Environment_Get": "rest",
        "DebtorService.Environment_Get": "rest"}})

    _, problems = check_rules(load_config(str(path)), service)

    assert [problem.message for problem in problems] == [
        "routing: operation 'List_GetAll' is in several services (CompanyService, "
        "DebtorService): write CompanyService.List_GetAll or DebtorService.List_GetAll",
        "routing: DebtorService.Environment_Get is routed twice (also as Environment_Get)",
    ]
    assert all(problem.line for problem in problems)


def test_check_prints_the_ambiguity_at_its_line_and_exits_1(tmp_path: Path) -> None:
    path = _write(tmp_path, routing={"operations": {"List_GetAll": "rest"}})

    done = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)

    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1)
                if "List_GetAll:" in text)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"{path}:{line}: routing: operation 'List_GetAll' is in several services "
            "(CompanyService, DebtorService)") in done.stderr
