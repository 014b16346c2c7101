"""ListTemplates over real HTTP: the seed's canned templates, in the shape the WSDL gives."""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from bridge.sandbox import SandboxServer

from ..conftest import EXAMPLE_INC
from .soap import items, operation, post, refusal_message, result_of

HOLDINGS = "06fd91ef-dab3-4d55-8b2c-214401174fbc"


def list_templates(server: SandboxServer, http: requests.Session, **attributes: str) -> etree._Element:
    body = operation("ListTemplates", "ListTemplates", "TemplateListQuery", **attributes)
    return result_of(
        post(server, http, "ListTemplates", body), "ListTemplates", "ListTemplates", "TemplateListQueryResult"
    )


def test_list_templates_answers_the_account_templates(sandbox: SandboxServer, http: requests.Session) -> None:
    result = list_templates(sandbox, http, ContextIdentifier=EXAMPLE_INC, UserName="jdoe@example.com")

    templates = items(result, "Templates/TemplateItem")
    assert [dict(t.attrib) for t in templates] == [
        {
            "Id": "2fa8dc35-f992-46ab-a981-b266f614b5a3",
            "CreationDate": "2016-08-10T09:30:00.0000000-05:00",
            "ImmediatePresentment": "false",
            "PasswordRequired": "false",
            "DocumentTemplateType": "Standard",
            "SignatureDeviceSupportEnabled": "false",
            "ModifiedDate": "2016-08-10T09:30:00.0000000-05:00",
            "PageCount": "2",
            "Name": "Mutual NDA",
        },
        {
            "Id": "fe332a27-b3b8-4ee6-86eb-7b896ecab324",
            "CreationDate": "2018-03-01T11:00:00.0000000-05:00",
            "ImmediatePresentment": "false",
            "PasswordRequired": "false",
            "DocumentTemplateType": "Standard",
            "SignatureDeviceSupportEnabled": "false",
            "ModifiedDate": "2018-03-01T11:00:00.0000000-05:00",
            "PageCount": "1",
            "Name": "Sales Order",
            "Description": "Order form with two signers",
        },
    ]
    assert not items(result, "Exceptions")
    assert "Success" not in result.attrib  # TemplateListQueryResult has none


def test_an_account_without_templates_lists_none(sandbox: SandboxServer, http: requests.Session) -> None:
    result = list_templates(sandbox, http, ContextIdentifier=HOLDINGS)

    assert len(items(result, "Templates")) == 1
    assert not items(result, "Templates/TemplateItem")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"ContextIdentifier": EXAMPLE_INC.replace("821a", "0000")}, "was not found."),
        ({}, "Account 00000000-0000-0000-0000-000000000000 was not found."),
        (
            {"ContextIdentifier": HOLDINGS, "UserName": "jdoe@example.com"},
            "User 'jdoe@example.com' was not found in the account.",
        ),
    ],
)
def test_list_templates_refusals_are_exceptions(
    sandbox: SandboxServer, http: requests.Session, attributes: dict[str, str], message: str
) -> None:
    result = list_templates(sandbox, http, **attributes)

    assert refusal_message(result, "TemplateListException").endswith(message)
    assert not items(result, "Templates")
