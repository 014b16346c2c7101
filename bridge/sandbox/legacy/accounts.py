"""The Accounts service: child accounts created, read, changed and listed."""

from __future__ import annotations

import uuid
from dataclasses import replace

from lxml import etree

from ..seed import Seed
from ..state import SandboxState
from . import members
from .access import authorise
from .envelope import Node
from .members import EMPTY_GUID
from .operation import Emulated, Refusal, Result
from .registry import Conflict, LegacyAccount, Registry


class AccountsService:
    """Answers the Accounts operations from the registry."""

    def __init__(self, seed: Seed, state: SandboxState, registry: Registry) -> None:
        self.seed = seed
        self.state = state
        self.registry = registry
        self.operations = {
            "CreateAccount": Emulated(
                self.create_account,
                "CreateAccountResult",
                "AccountException",
                refused={"ContextIdentifier": EMPTY_GUID, "Success": False},
            ),
            "GetAccount": Emulated(
                self.get_account,
                "GetAccountResult",
                "AccountException",
                refused={"ContextIdentifier": EMPTY_GUID, "Inactive": False, "Success": False},
            ),
            "UpdateAccount": Emulated(self.update_account, "UpdateAccountResult", "AccountException"),
            "ListAccounts": Emulated(
                self.list_accounts, "ListAccountsResult", "AccountException", empty_exceptions=True
            ),
        }

    def create_account(self, element: etree._Element) -> Result:
        """A child of the Request's account (the parent, in the article's words)."""
        request = members.request(element, "Request")
        # Typed members first: XmlSerializer reads the whole request before the operation runs.
        inactive = members.flag(request, "Inactive")
        _, parent = authorise(self.state, self.registry, request)
        name = members.given(request, "Name")
        if name is None:
            raise Refusal("A Name is required.")
        # The article: the AccountTemplate may be left out, the AccountGroup may not.
        group = self._account_group(members.given(request, "AccountGroup"))
        if group is None:
            raise Refusal("An AccountGroup is required.")
        template = members.given(request, "AccountTemplate")
        if template is not None and template not in self.seed.legacy.account_templates:
            raise Refusal(f"AccountTemplate '{template}' was not found.")
        account = LegacyAccount(
            context_identifier=str(uuid.uuid4()),
            name=name,
            display_name=members.given(request, "DisplayName"),
            account_group=group,
            parent=self._account(parent).context_identifier,
            inactive=inactive,
        )
        self.registry.add_account(account)
        return Result({"ContextIdentifier": account.context_identifier, "Success": True})

    def get_account(self, element: etree._Element) -> Result:
        _, context_identifier = authorise(self.state, self.registry, members.request(element, "Request"))
        account = self._account(context_identifier)
        legacy = self.seed.legacy
        return Result(
            {
                "ContextIdentifier": account.context_identifier,
                "Inactive": account.inactive,
                "Success": True,
                "Name": account.name,
                "DisplayName": account.display_name,
                "AccountGroup": account.account_group,
            },
            (
                _names("Roles", "Role", legacy.roles),
                _names("AccountTemplates", "AccountTemplate", legacy.account_templates),
                _names("AccountGroups", "AccountGroup", legacy.account_groups),
            ),
        )

    def update_account(self, element: etree._Element) -> Result:
        """Absent attributes and absent or nil elements leave the account as it is."""
        request = members.request(element, "Request")
        inactive = members.nillable_flag(request, "Inactive")
        parent = members.nillable_guid(request, "ParentAccountContextIdentifier")
        caller, context_identifier = authorise(self.state, self.registry, request)
        account = self._account(context_identifier)
        if parent is not None and not self.registry.may_manage(caller, parent):
            raise Refusal(f"The user has no access to the account {parent}.")
        updated = replace(
            account,
            name=members.given(request, "Name") or account.name,
            display_name=members.given(request, "DisplayName") or account.display_name,
            account_group=self._account_group(members.given(request, "AccountGroup"))
            or account.account_group,
            inactive=account.inactive if inactive is None else inactive,
            parent=account.parent if parent is None else self._account(parent).context_identifier,
        )
        try:
            self.registry.replace_account(updated)
        except Conflict as conflict:
            raise Refusal(conflict.message) from None
        return Result({"Success": True})

    def list_accounts(self, element: etree._Element) -> Result:
        """The Request account's children (not the account itself, nor grandchildren)."""
        _, context_identifier = authorise(self.state, self.registry, members.request(element, "Request"))
        children = tuple(
            Node(
                "Account",
                {
                    "ContextIdentifier": a.context_identifier,
                    "Inactive": a.inactive,
                    "Name": a.name,
                    "DisplayName": a.display_name,
                    "AccountGroup": a.account_group,
                },
            )
            for a in self.registry.children(context_identifier)
        )
        return Result({"Success": True}, (Node("Accounts", children=children),))

    def _account(self, context_identifier: str) -> LegacyAccount:
        account = self.registry.account(context_identifier)
        if account is None:
            raise Refusal(f"Account {context_identifier} was not found.")
        return account

    def _account_group(self, group: str | None) -> str | None:
        if group is not None and group not in self.seed.legacy.account_groups:
            raise Refusal(f"AccountGroup '{group}' was not found.")
        return group


def _names(list_name: str, item_name: str, names: tuple[str, ...]) -> Node:
    return Node(list_name, children=tuple(Node(item_name, text=name) for name in names))
