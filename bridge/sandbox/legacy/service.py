"""The legacy service's endpoints: each request routed to its service's operation, Ping,
and a Server fault for every operation and MTOM endpoint the sandbox does not emulate."""

from __future__ import annotations

import re

from lxml import etree

from ..exchange import Call, Request, Response, Route
from ..seed import Seed
from ..state import SandboxState
from .accounts import AccountsService
from .contract import BASE_PATH, MTOM_SERVICES, OPERATIONS, SERVICES, namespace
from .envelope import Fault, Node, answer_response, fault_response, parse_operation, split
from .operation import Emulated
from .registry import Registry
from .templates import TemplatesService
from .users import UsersService

CALL_NAMES = (*(f"legacy:{op}" for op in OPERATIONS), "legacy:invalid", "legacy:unknown", "legacy:mtom")
_TEXT = re.compile(rf"{re.escape(BASE_PATH)}/(?P<service>{'|'.join(SERVICES)})/text")
_MTOM = re.compile(rf"{re.escape(BASE_PATH)}/(?P<service>{'|'.join(MTOM_SERVICES)})/mtom")


class LegacyService:
    """Answers every `<Service>/text` and `/mtom` endpoint of the WSDL for one seed."""

    def __init__(self, seed: Seed, state: SandboxState, registry: Registry) -> None:
        self.emulated: dict[str, Emulated] = {
            **UsersService(seed, state, registry).operations,
            **AccountsService(seed, state, registry).operations,
            **TemplatesService(seed, registry).operations,
        }
        self.routes = (Route(_TEXT, "POST", self.prepare), Route(_MTOM, "POST", self.prepare_mtom))

    def prepare(self, request: Request) -> Call:
        service = _service(_TEXT, request.path)
        try:
            element = parse_operation(request.body)
        except Fault as fault:
            refusal = fault_response(fault)
            return Call("legacy:invalid", lambda: refusal)
        element_namespace, operation = split(element.tag)
        if element_namespace != namespace(service) or operation not in SERVICES[service]:
            unknown = fault_response(
                Fault(
                    "Client",
                    f"{{{element_namespace}}}{operation} is not an operation of the {service} service.",
                )
            )
            return Call("legacy:unknown", lambda: unknown)
        return Call(f"legacy:{operation}", lambda: self._run(service, operation, element))

    def prepare_mtom(self, request: Request) -> Call:
        # The body, a multipart MIME package, is never read.
        service = _service(_MTOM, request.path)
        message = (
            f"The MTOM endpoint {BASE_PATH}/{service}/mtom is not emulated by the sandbox;"
            f" send the operation to {BASE_PATH}/{service}/text."
        )
        return Call("legacy:mtom", lambda: fault_response(Fault("Server", message)))

    def _run(self, service: str, operation: str, element: etree._Element) -> Response:
        if operation == "Ping":
            return answer_response(namespace(service), operation, Node("PingResult", {"Success": True}))
        emulated = self.emulated.get(operation)
        if emulated is None:
            return fault_response(Fault("Server", f"Operation {operation} is not emulated by the sandbox."))
        try:
            return emulated.answer(namespace(service), operation, element)
        except Fault as fault:
            return fault_response(fault)


def _service(pattern: re.Pattern[str], path: str) -> str:
    match = pattern.fullmatch(path)
    assert match is not None  # the route matched this path
    return match["service"]
