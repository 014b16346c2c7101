"""The legacy AuthenticateUser exchange as the bench sends and checks it (SOAP 1.1)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

USERS_PATH = "/Services/DocumentNOW/v2/DocumentNOW.svc/Users/text"
USERS_NS = "https://www.assuresign.net/Services/DocumentNOW/Users"
ACTION = USERS_NS + "/IUserService/AuthenticateUser"
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ACTION}"'}
# What a successful answer carries, whoever wrote it: the check before every measured run
# and, in load.lua, on every answer.
SUCCESS = 'Success="true"'


def login(username: str, password: str) -> bytes:
    """One AuthenticateUser request on one line (load.lua reads one request a line)."""
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<AuthenticateUser xmlns="{USERS_NS}">'
            f"<Request UserName={quoteattr(username)} Password={quoteattr(password)}/>"
            "</AuthenticateUser></soap:Body></soap:Envelope>").encode()


def succeeded(body: bytes) -> bool:
    return SUCCESS.encode() in body
