"""The emulated legacy DocumentNOW v2 Users SOAP service (SOAP 1.1, document/literal)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from .exchange import MAX_BODY, XML_TYPE, Call, Request, Response, Route
from .seed import Seed, User
from .state import LEGACY, SandboxState

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
USERS_NS = "https://www.assuresign.net/Services/DocumentNOW/Users"
USERS_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"
OPERATIONS = ("AuthenticateUser", "CreateUser", "GetUser", "UpdateUser", "DeleteUser", "ListUsers")
CALL_NAMES = (*(f"legacy:{op}" for op in OPERATIONS), "legacy:invalid", "legacy:unknown")
# Documented: the AuthenticationToken times out for API use after 30 minutes.
TOKEN_LIFETIME_S = 30 * 60

INVALID_CREDENTIALS = "Invalid user name or password."
LOCKED = "The user account is locked."
INACTIVE = "The user account is inactive."
PASSWORD_EXPIRED = "The password has expired."  # noqa: S105
INVALID_TOKEN = "Authentication token is invalid or has expired."  # noqa: S105
# Compared against when the user is unknown, so both refusals cost the same.
_NO_PASSWORD = "-" * 32


class _Fault(Exception):
    """A SOAP 1.1 Fault to answer instead of a result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_operation(body: bytes) -> etree._Element:
    """The single operation element inside a SOAP 1.1 Body, read with a hardened parser."""
    if len(body) > MAX_BODY:
        raise _Fault("Client", "The request is larger than 1 MiB.")
    # No DTDs, no entity expansion, no network: the defences against XXE and entity bombs.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise _Fault("Client", "The request is not well-formed XML.") from exc
    # lxml-stubs lack DocInfo.doctype.
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _Fault("Client", "DOCTYPE declarations are not accepted.")
    if root.tag == f"{{{SOAP12_NS}}}Envelope":
        raise _Fault("VersionMismatch", "This endpoint speaks SOAP 1.1 only.")
    if root.tag != f"{{{SOAP11_NS}}}Envelope":
        raise _Fault("Client", "The request is not a SOAP 1.1 Envelope.")
    soap_body = root.find(f"{{{SOAP11_NS}}}Body")
    if soap_body is None:
        raise _Fault("Client", "The Envelope has no Body.")
    operations = [child for child in soap_body if isinstance(child.tag, str)]
    if len(operations) != 1:
        raise _Fault("Client", "The Body must hold exactly one operation element.")
    return operations[0]


def fault_response(code: str, message: str) -> Response:
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body"), f"{{{SOAP11_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    return _xml_response(500, envelope)


def _xml_response(status: int, envelope: etree._Element) -> Response:
    # The declaration written by hand for the double quotes .NET services send.
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(envelope, encoding="utf-8")
    return Response(status, body, XML_TYPE)


def _result(operation: str, success: bool) -> tuple[etree._Element, etree._Element]:
    """A response envelope for the operation and its empty <operation>Result element."""
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    body = etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    # The default namespace on the response element, as in the documented sample.
    answer = etree.SubElement(
        body,
        f"{{{USERS_NS}}}{operation}Response",
        nsmap={None: USERS_NS},  # type: ignore[dict-item]
    )
    result = etree.SubElement(answer, f"{{{USERS_NS}}}{operation}Result")
    result.set("Success", _boolean(success))
    return envelope, result


def _refusal(operation: str, message: str, **attributes: str) -> Response:
    envelope, result = _result(operation, success=False)
    for name, value in attributes.items():
        result.set(name, value)
    exceptions = etree.SubElement(result, f"{{{USERS_NS}}}Exceptions")
    exception = etree.SubElement(exceptions, f"{{{USERS_NS}}}UserException", Severity="Error")
    exception.text = message
    return _xml_response(200, envelope)


def _boolean(value: bool) -> str:
    return "true" if value else "false"


class LegacyUsersService:
    """Answers the Users service for one seed; tokens and lockouts live in the shared state."""

    def __init__(self, seed: Seed, state: SandboxState) -> None:
        self.seed = seed
        self.state = state
        self.operations: dict[str, Callable[[etree._Element], Response]] = {
            "AuthenticateUser": self.authenticate_user,
            "ListUsers": self.list_users,
            "GetUser": self.get_user,
        }
        self.routes = (Route(re.compile(re.escape(USERS_PATH)), "POST", self.prepare),)

    def prepare(self, request: Request) -> Call:
        try:
            element = parse_operation(request.body)
        except _Fault as fault:
            refusal = fault_response(fault.code, fault.message)
            return Call("legacy:invalid", lambda: refusal)
        namespace, operation = _split(element.tag)
        known = namespace == USERS_NS and operation in OPERATIONS
        return Call(
            f"legacy:{operation}" if known else "legacy:unknown",
            lambda: self._run(namespace, operation, element),
        )

    def _run(self, namespace: str, operation: str, element: etree._Element) -> Response:
        if namespace != USERS_NS:
            return fault_response(
                "Client", f"{{{namespace}}}{operation} is not an operation of the Users service."
            )
        handler = self.operations.get(operation)
        if handler is None:
            return fault_response("Client", f"Operation {operation} is not supported by the sandbox")
        try:
            return handler(element)
        except _Fault as fault:
            return fault_response(fault.code, fault.message)

    # -- AuthenticateUser ---------------------------------------------------

    def authenticate_user(self, element: etree._Element) -> Response:
        request = _child(element, "AuthenticateUserRequest")
        username = request.get("UserName", "")
        password = request.get("Password", "")
        user = self.seed.user(username)
        password_matches = hmac.compare_digest(
            password.encode("utf-8"), (user.password if user else _NO_PASSWORD).encode("utf-8")
        )
        if user is None:
            return _refusal("AuthenticateUser", INVALID_CREDENTIALS)
        # Once locked by failures, even the right password is refused: that is the lockout.
        if self.state.is_locked(user.username):
            return _refusal("AuthenticateUser", LOCKED)
        if not password_matches:
            self.state.record_failure(user.username, self.seed.legacy.max_failures)
            return _refusal("AuthenticateUser", INVALID_CREDENTIALS)
        # Status is told only to someone who knows the password.
        if user.status == "locked":
            return _refusal("AuthenticateUser", LOCKED)
        if user.status == "inactive":
            return _refusal("AuthenticateUser", INACTIVE)
        if user.status == "expired_password":
            return _refusal(
                "AuthenticateUser",
                PASSWORD_EXPIRED,
                ExpiredPasswordUrl=self.seed.expired_password_url,
            )
        self.state.clear_failures(user.username)

        envelope, result = _result("AuthenticateUser", success=True)
        result.set("AuthenticationToken", self.state.issue(LEGACY, user.username, TOKEN_LIFETIME_S))
        result.set("UserName", user.username)
        result.set("FirstName", user.first_name)
        result.set("LastName", user.last_name)
        accounts = etree.SubElement(result, f"{{{USERS_NS}}}Accounts")
        for account in self.seed.legacy_accounts(user):
            etree.SubElement(
                accounts,
                f"{{{USERS_NS}}}UserAccount",
                Name=account.name,
                ContextIdentifier=account.context_identifier,
                IsPrimary=_boolean(account.primary),
            )
        return _xml_response(200, envelope)

    # -- ListUsers / GetUser ------------------------------------------------

    def list_users(self, element: etree._Element) -> Response:
        members = self._account_members("ListUsers", element)
        if isinstance(members, Response):
            return members
        envelope, result = _result("ListUsers", success=True)
        users = etree.SubElement(result, f"{{{USERS_NS}}}Users")
        for member in members:
            self._user_element(users, member)
        return _xml_response(200, envelope)

    def get_user(self, element: etree._Element) -> Response:
        members = self._account_members("GetUser", element)
        if isinstance(members, Response):
            return members
        wanted = _child(element, "Request").get("UserName", "")
        found = next((m for m in members if m.username.casefold() == wanted.casefold()), None)
        if found is None:
            return _refusal("GetUser", f"User '{wanted}' was not found in the account.")
        envelope, result = _result("GetUser", success=True)
        self._user_element(result, found)
        return _xml_response(200, envelope)

    def _account_members(self, operation: str, element: etree._Element) -> list[User] | Response:
        """The users of the Request's account, or the refusal if the token may not see them."""
        request = _child(element, "Request")
        context_identifier = request.get("ContextIdentifier", "")
        grant = self.state.grant(request.get("AuthenticationToken", ""), LEGACY)
        caller = self.seed.user(grant.username) if grant is not None else None
        if caller is None:
            return _refusal(operation, INVALID_TOKEN)
        if not self._belongs(caller, context_identifier):
            return _refusal(operation, f"The user has no access to the account {context_identifier}.")
        return [u for u in self.seed.users if self._belongs(u, context_identifier)]

    def _belongs(self, user: User, context_identifier: str) -> bool:
        wanted = context_identifier.casefold()
        return any(a.context_identifier.casefold() == wanted for a in self.seed.legacy_accounts(user))

    def _user_element(self, parent: etree._Element, user: User) -> None:
        etree.SubElement(
            parent,
            f"{{{USERS_NS}}}User",
            UserName=user.username,
            FirstName=user.first_name,
            LastName=user.last_name,
            Role="User",
            RequirePasswordChange="false",
            Inactive=_boolean(user.status == "inactive"),
            Locked=_boolean(user.status == "locked" or self.state.is_locked(user.username)),
        )


def _split(tag: str) -> tuple[str, str]:
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, local


def _child(element: etree._Element, name: str) -> etree._Element:
    child = element.find(f"{{{USERS_NS}}}{name}")
    if child is None:
        operation = _split(element.tag)[1]
        raise _Fault("Client", f"{operation} needs a {name} element.")
    return child
