"""Talking SOAP to the sandbox's legacy service in tests, and holding its answers to the served WSDL."""

from __future__ import annotations

import functools
from pathlib import Path

import requests
from lxml import etree
from zeep.transports import Transport
from zeep.wsdl import Document

from bridge.sandbox import SandboxServer

WSDL = Path(__file__).resolve().parents[3] / "wsdl" / "DocumentNOW.wsdl"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
BASE = "/Services/DocumentNOW/v2/DocumentNOW.svc"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


def ns(service: str) -> str:
    return f"https://www.assuresign.net/Services/DocumentNOW/{service}"


def envelope(body: str) -> bytes:
    return f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>{body}</soap:Body></soap:Envelope>'.encode()


def operation(service: str, name: str, child: str = "Request", inner: str = "", **attributes: str) -> bytes:
    """`<name xmlns=service><child attributes…>inner</child></name>` in an envelope."""
    written = "".join(f' {key}="{value}"' for key, value in attributes.items())
    return envelope(
        f'<{name} xmlns="{ns(service)}" xmlns:xsi="{XSI}"><{child}{written}>{inner}</{child}></{name}>'
    )


def flag_element(name: str, form: str) -> str:
    """A nillable boolean element: "absent" leaves it out, "nil" is xsi:nil, else the value."""
    if form == "absent":
        return ""
    if form == "nil":
        return f'<{name} xsi:nil="true"/>'
    return f"<{name}>{form}</{name}>"


def post(
    server: SandboxServer,
    http: requests.Session,
    service: str,
    body: bytes,
    content_type: str = "text/xml; charset=utf-8",
    endpoint: str = "text",
) -> requests.Response:
    return http.post(
        f"{server.url}{BASE}/{service}/{endpoint}",
        data=body,
        headers={"Content-Type": content_type},
        timeout=5,
    )


@functools.cache
def wsdl_document() -> Document:
    return Document(str(WSDL), Transport())


@functools.cache
def wsdl_schema() -> etree.XMLSchema:
    """Every xs:schema of the WSDL's types, put together into one schema lxml can validate with."""
    schemas = (
        etree.parse(str(WSDL)).getroot().findall(f"{{http://schemas.xmlsoap.org/wsdl/}}types/{{{XS}}}schema")
    )
    texts = {f"part{index}.xsd": etree.tostring(schema) for index, schema in enumerate(schemas)}
    whole = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
    for (location, _), schema in zip(texts.items(), schemas, strict=True):
        etree.SubElement(
            whole, f"{{{XS}}}import", namespace=schema.get("targetNamespace"), schemaLocation=location
        )

    class Parts(etree.Resolver):
        def resolve(self, url: str, pubid: str, context: object) -> object:
            text = texts.get(url.rsplit("/", 1)[-1])
            return None if text is None else self.resolve_string(text, context)

    parser = etree.XMLParser()
    parser.resolvers.add(Parts())
    return etree.XMLSchema(etree.fromstring(etree.tostring(whole), parser, base_url="file:///wsdl/whole.xsd"))


def answer_of(response: requests.Response, service: str, name: str) -> etree._Element:
    """The `<name>Response` element of a 200 answer, once it is proved valid against the served
    WSDL: parsed by zeep through the WSDL's output element, and validated by its XML Schema."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    # The service namespace as the default namespace, as in the vendor's samples.
    assert f'<{name}Response xmlns="{ns(service)}">'.encode() in response.content, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{SOAP}}}Envelope"
    answer = root.find(f"{{{SOAP}}}Body/{{{ns(service)}}}{name}Response")
    assert answer is not None, response.text
    alone = etree.fromstring(etree.tostring(answer))
    document = wsdl_document()
    document.types.get_element(alone.tag).parse(alone, document.types)
    wsdl_schema().assertValid(alone)
    return answer


def result_of(
    response: requests.Response, service: str, name: str, result: str | None = None
) -> etree._Element:
    """The result element (`<name>Result` unless named) of a valid answer."""
    answer = answer_of(response, service, name)
    children = list(answer)
    assert [c.tag for c in children] == [f"{{{ns(service)}}}{result or name + 'Result'}"], response.text
    return children[0]


def child(element: etree._Element, path: str) -> etree._Element:
    """The one element at a path of local names in the element's namespace."""
    namespace = etree.QName(element).namespace
    found = element.findall("/".join(f"{{{namespace}}}{part}" for part in path.split("/")))
    assert len(found) == 1, etree.tostring(element)
    return found[0]


def items(element: etree._Element, path: str) -> list[etree._Element]:
    namespace = etree.QName(element).namespace
    return element.findall("/".join(f"{{{namespace}}}{part}" for part in path.split("/")))


def refusal_message(result: etree._Element, exception: str = "UserException") -> str:
    """The one Exceptions message of a refused result."""
    # TemplateListQueryResult has no Success; every other result says false.
    assert result.get("Success") == (None if exception == "TemplateListException" else "false")
    found = items(result, f"Exceptions/{exception}")
    assert len(found) == 1, etree.tostring(result)
    assert found[0].get("Severity") == "Error"
    return found[0].text or ""


def fault_of(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500, response.text
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    fault = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, response.text
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def login(server: SandboxServer, http: requests.Session, username: str, password: str = "Password") -> str:  # noqa: S107
    body = operation("Users", "AuthenticateUser", UserName=username, Password=password)
    result = result_of(post(server, http, "Users", body), "Users", "AuthenticateUser")
    assert result.get("Success") == "true", etree.tostring(result)
    return result.get("AuthenticationToken") or ""
