"""ListTemplates, answered with the seed's canned templates of the account.

The one emulated operation outside Users and Accounts: with it a test can pass an operation
the bridge has not migrated through to the legacy service end to end and see its bytes come back.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from ..seed import Seed, Template
from . import members
from .envelope import Node
from .operation import Emulated, Refusal, Result
from .registry import Registry


class TemplatesService:
    """Answers ListTemplates; like every DocumentNOW call outside Users and Accounts it needs no
    token, only the account's ContextIdentifier (its API key) and, optionally, a UserName."""

    def __init__(self, seed: Seed, registry: Registry) -> None:
        self.seed = seed
        self.registry = registry
        self.operations = {
            # TemplateListQueryResult has no Success: a refusal is its Exceptions alone.
            "ListTemplates": Emulated(
                self.list_templates, "TemplateListQueryResult", "TemplateListException", refused={}
            ),
        }

    def list_templates(self, element: etree._Element) -> Result:
        query = members.request(element, "TemplateListQuery")
        context_identifier = members.guid(query, "ContextIdentifier")
        if self.registry.account(context_identifier) is None:
            raise Refusal(f"Account {context_identifier} was not found.")
        username = query.get("UserName")
        if username:
            user = self.registry.user(username)
            if user is None or not user.member_of(context_identifier):
                raise Refusal(f"User '{username}' was not found in the account.")
        wanted = context_identifier.casefold()
        items = tuple(_item(t) for t in self.seed.legacy.templates if t.account.casefold() == wanted)
        return Result({}, (Node("Templates", children=items),))


def _item(template: Template) -> Node:
    # [INFERRED] members the seed does not give are at the values a plain template has.
    return Node(
        "TemplateItem",
        {
            "Id": template.id,
            "CreationDate": _datetime(template.created),
            "ImmediatePresentment": False,
            "PasswordRequired": False,
            "DocumentTemplateType": "Standard",
            "SignatureDeviceSupportEnabled": False,
            "ModifiedDate": _datetime(template.created),
            "PageCount": str(template.page_count),
            "Name": template.name,
            "Description": template.description,
        },
    )


def _datetime(moment: dt.datetime) -> str:
    """As XmlSerializer writes a DateTime, seven fractional digits: 2008-03-01T11:00:00.0000000-05:00."""
    written = moment.isoformat(timespec="microseconds")
    # The seed's moments carry a zone, so the offset follows the 26 characters of date and time.
    return f"{written[:26]}0{written[26:]}"
