"""The floor: a WSGI app that reads the request and answers one fixed AuthenticateUser success.

Nothing is parsed and nothing is called; what it costs is the WSGI server, HTTP and the
load generator, which every other row pays as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bench.soap import USERS_NS

ANSWER = (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    f'<AuthenticateUserResponse xmlns="{USERS_NS}">'
    '<AuthenticateUserResult Success="true" AuthenticationToken="floor-7f3c9a1e5b2d4c68a0e1f2b3c4d5e6f7" '
    'UserName="jdoe@example.com" FirstName="John" LastName="Doe"><Accounts>'
    '<UserAccount Name="Example, Inc." ContextIdentifier="821ae27f-027c-4f21-a2e5-1667fc9b650a" '
    'IsPrimary="true"/></Accounts></AuthenticateUserResult></AuthenticateUserResponse>'
    "</s:Body></s:Envelope>"
).encode()
_HEADERS = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(ANSWER)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", _HEADERS)
    return [ANSWER]
