"""A hand-written Spyne service doing the bridge's AuthenticateUser job (api-key strategy).

What a competent engineer would write without the bridge: Spyne parses the SOAP request,
one pooled keep-alive `requests.Session` per process calls the vendor's apiUser and
users/{username}/accounts endpoints (as mappings/assuresign-api-key/authenticate-user.yaml
does), and the legacy answer is written with the same attributes in the same namespace.
Like the bridge without a directory that knows the user, it has no names to answer. It answers the vendor's
bearer itself as the AuthenticationToken: simpler than the bridge, which mints a token of
its own and stores it. Any refusal is `Success="false"` (the legacy refusal text is not
needed for the bench).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from spyne import Application, Array, Boolean, ComplexModel, ServiceBase, Unicode, XmlAttribute, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from bench.rest import API_USER_PATH, accounts_path, api_user_body, bearer_header, token_of
from bench.soap import USERS_NS

TIMEOUT = (2.0, 10.0)


class AuthenticateUserRequest(ComplexModel):
    __namespace__ = USERS_NS
    UserName = XmlAttribute(Unicode)
    Password = XmlAttribute(Unicode)


class UserAccount(ComplexModel):
    __namespace__ = USERS_NS
    Name = XmlAttribute(Unicode)
    ContextIdentifier = XmlAttribute(Unicode)
    IsPrimary = XmlAttribute(Boolean)


class AuthenticateUserResult(ComplexModel):
    __namespace__ = USERS_NS
    # A list keeps the WSDL's order: the Accounts element, then the attributes.
    _type_info = [
        ("Accounts", Array(UserAccount)),
        ("Success", XmlAttribute(Boolean)),
        ("AuthenticationToken", XmlAttribute(Unicode)),
        ("UserName", XmlAttribute(Unicode)),
        ("FirstName", XmlAttribute(Unicode)),
        ("LastName", XmlAttribute(Unicode)),
    ]


class Vendor:
    """The vendor's REST API, over one pooled session per process (made after the fork)."""

    def __init__(self, base_url: str, api_username: str, pool_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_username = api_username
        self.pool_size = pool_size
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    session = requests.Session()
                    adapter = HTTPAdapter(pool_maxsize=self.pool_size)
                    session.mount("http://", adapter)
                    session.trust_env = False
                    self._session = session
        return self._session

    def authenticate(self, username: str, key: str) -> AuthenticateUserResult:
        session = self.session()
        issued = session.post(self.base_url + API_USER_PATH, data=api_user_body(
            self.api_username, key, username), headers={"Content-Type": "application/json"},
            timeout=TIMEOUT)
        token = token_of(issued.json()) if issued.status_code == 200 else None
        if token is None:
            return AuthenticateUserResult(Success=False)
        listed = session.get(self.base_url + accounts_path(username), timeout=TIMEOUT,
                             headers={"Authorization": bearer_header(token)})
        if listed.status_code != 200:
            return AuthenticateUserResult(Success=False)
        return AuthenticateUserResult(
            Success=True, AuthenticationToken=token, UserName=username,
            Accounts=[UserAccount(Name=a.get("accountName"), ContextIdentifier=a["accountID"],
                                  IsPrimary=bool(a.get("isDefault")))
                      for a in listed.json()["result"]["userAccounts"] if not a.get("isDisabled")])


def make_app(upstream: str, api_username: str, threads: int) -> Any:
    vendor = Vendor(upstream, api_username, pool_size=max(threads, 4))

    def authenticate(username: str, password: str) -> AuthenticateUserResult:
        try:
            return vendor.authenticate(username, password)
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return AuthenticateUserResult(Success=False)

    return _service(authenticate)


def make_bare_app() -> Any:
    """The same service answering one fixed success, with no upstream call: what Spyne itself
    costs (parse, dispatch, write), the peer of a warm bridge login."""

    def authenticate(username: str, password: str) -> AuthenticateUserResult:
        return AuthenticateUserResult(
            Success=True, AuthenticationToken="spyne-7f3c9a1e5b2d4c68a0e1f2b3c4d5e6f7",
            UserName=username, Accounts=[UserAccount(
                Name="Example, Inc.", ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a",
                IsPrimary=True)])

    return _service(authenticate)


def _service(authenticate: Callable[[str, str], AuthenticateUserResult]) -> Any:
    class UserService(ServiceBase):
        @rpc(AuthenticateUserRequest, _returns=AuthenticateUserResult,
             _in_message_name="AuthenticateUser",
             _in_variable_names={"request": "Request"},
             _out_message_name="AuthenticateUserResponse",
             _out_variable_name="AuthenticateUserResult")
        def AuthenticateUser(ctx: Any, request: AuthenticateUserRequest | None) -> AuthenticateUserResult:
            if request is None or not request.UserName or not request.Password:
                return AuthenticateUserResult(Success=False)
            return authenticate(request.UserName, request.Password)

    application = Application([UserService], tns=USERS_NS, name="UserService",
                              in_protocol=Soap11(validator="soft"), out_protocol=Soap11())
    return WsgiApplication(application)
