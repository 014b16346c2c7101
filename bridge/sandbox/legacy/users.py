"""The Users service: AuthenticateUser and the user management operations."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import replace

from lxml import etree

from ..seed import Seed
from ..state import SandboxState
from . import members
from .access import authorise, issue_token
from .contract import namespace
from .envelope import Node
from .operation import Emulated, Refusal, Result
from .registry import SEED_ROLE, Conflict, LegacyUser, Membership, Registry

NAMESPACE = namespace("Users")
INVALID_CREDENTIALS = "Invalid user name or password."
LOCKED = "The user account is locked."
INACTIVE = "The user account is inactive."
PASSWORD_EXPIRED = "The password has expired."  # noqa: S105
PASSWORD_CHANGE_REQUIRED = "The password must be changed."  # noqa: S105
# Compared against when the user is unknown, so both refusals cost the same.
_NO_PASSWORD = "-" * 32
# The articles: a UserName "must be an email address" (CreateUser, UpdateUser's NewUserName).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class UsersService:
    """Answers the Users operations from the registry; tokens and lockouts live in the state."""

    def __init__(self, seed: Seed, state: SandboxState, registry: Registry) -> None:
        self.seed = seed
        self.state = state
        self.registry = registry
        self.operations = {
            "AuthenticateUser": Emulated(self.authenticate_user, "AuthenticateUserResult", "UserException"),
            "CreateUser": Emulated(self.create_user, "CreateUserResult", "UserException"),
            "GetUser": Emulated(
                self.get_user,
                "GetUserResult",
                "UserException",
                refused={
                    "RequirePasswordChange": False,
                    "Inactive": False,
                    "Locked": False,
                    "Success": False,
                },
            ),
            "UpdateUser": Emulated(self.update_user, "UpdateUserResult", "UserException"),
            "DeleteUser": Emulated(self.delete_user, "DeleteUserResult", "UserException"),
            "ListUsers": Emulated(self.list_users, "ListUsersResult", "UserException", empty_exceptions=True),
        }

    # -- AuthenticateUser ---------------------------------------------------

    def authenticate_user(self, element: etree._Element) -> Result:
        # The WSDL's child is Request; the 2016 article's AuthenticateUserRequest is still sent.
        request = members.request(element, "Request", "AuthenticateUserRequest")
        user = self.registry.user(request.get("UserName") or "")
        password_matches = hmac.compare_digest(
            (request.get("Password") or "").encode("utf-8"),
            (user.password if user else _NO_PASSWORD).encode("utf-8"),
        )
        if user is None:
            raise Refusal(INVALID_CREDENTIALS)
        # Once locked by failures, even the right password is refused: that is the lockout.
        if self.state.is_locked(user.username):
            raise Refusal(LOCKED)
        if not password_matches:
            self.state.record_failure(user.username, self.seed.legacy.max_failures)
            raise Refusal(INVALID_CREDENTIALS)
        # Status is told only to someone who knows the password.
        if user.locked:
            raise Refusal(LOCKED)
        if user.inactive:
            raise Refusal(INACTIVE)
        if user.password_expired:
            raise Refusal(PASSWORD_EXPIRED, ExpiredPasswordUrl=self.seed.expired_password_url)
        if user.require_password_change:
            raise Refusal(PASSWORD_CHANGE_REQUIRED, ChangePasswordUrl=self.seed.legacy.change_password_url)
        self.state.clear_failures(user.username)
        return Result(
            {
                "Success": True,
                "AuthenticationToken": issue_token(self.state, user),
                "UserName": user.username,
                "FirstName": user.first_name,
                "LastName": user.last_name,
            },
            (Node("Accounts", children=self._user_accounts(user)),),
        )

    def _user_accounts(self, user: LegacyUser) -> tuple[Node, ...]:
        accounts = []
        for membership in user.memberships:
            account = self.registry.account(membership.context_identifier)
            # [INFERRED] like a disabled membership, an inactive account is no account to work in.
            if account is None or account.inactive:
                continue
            accounts.append(
                Node(
                    "UserAccount",
                    # In the order of the documented sample.
                    {
                        "Name": account.name,
                        "ContextIdentifier": account.context_identifier,
                        "IsPrimary": membership.primary,
                    },
                )
            )
        return tuple(accounts)

    # -- ListUsers / GetUser ------------------------------------------------

    def list_users(self, element: etree._Element) -> Result:
        _, context_identifier = authorise(self.state, self.registry, members.request(element, "Request"))
        users = self.registry.members(context_identifier)
        return Result({"Success": True}, (Node("Users", children=tuple(self._user(u) for u in users)),))

    def get_user(self, element: etree._Element) -> Result:
        request = members.request(element, "Request")
        _, context_identifier = authorise(self.state, self.registry, request)
        user = self._member(context_identifier, request.get("UserName"))
        # GetUserResult is flat: the User's members and Success side by side.
        return Result(self._described(user, Success=True), self._tags(user))

    def _user(self, user: LegacyUser) -> Node:
        return Node("User", self._described(user), self._tags(user))

    def _described(self, user: LegacyUser, **success: bool) -> dict[str, str | bool | None]:
        return {
            "RequirePasswordChange": user.require_password_change,
            "Inactive": user.inactive,
            "Locked": user.locked or self.state.is_locked(user.username),
            **success,
            "UserName": user.username,
            "FirstName": user.first_name,
            "LastName": user.last_name,
            "Role": user.role,
        }

    @staticmethod
    def _tags(user: LegacyUser) -> tuple[Node, ...]:
        tags = tuple(Node("UserTag", {"Name": name, "Value": value}) for name, value in user.tags)
        return (Node("Tags", children=tags),) if tags else ()

    def _member(self, context_identifier: str, username: str | None) -> LegacyUser:
        user = self.registry.user(username or "")
        if user is None or not user.member_of(context_identifier):
            raise Refusal(f"User '{username or ''}' was not found in the account.")
        return user

    # -- CreateUser / UpdateUser / DeleteUser -------------------------------

    def create_user(self, element: etree._Element) -> Result:
        request = members.request(element, "Request")
        # Typed members first: XmlSerializer reads the whole request before the operation runs.
        generate = members.nillable_flag(request, "AutoGeneratePassword")
        send = members.nillable_flag(request, "SendCredentialsViaEmail")
        inactive = members.flag(request, "Inactive")
        require_password_change = members.flag(request, "RequirePasswordChange")
        tags = members.tags(request)
        _, context_identifier = authorise(self.state, self.registry, request)
        username = self._username(request.get("UserName") or "")
        role = self._role(request.get("Role")) or SEED_ROLE
        password = self._password(request.get("Password"), generate)
        if password is None:
            raise Refusal("A Password is required unless AutoGeneratePassword is true.")
        account = self.registry.account(context_identifier)
        assert account is not None  # authorise let the caller in, so the account exists
        user = LegacyUser(
            username=username,
            password=password,
            first_name=request.get("FirstName"),
            last_name=request.get("LastName"),
            role=role,
            memberships=(Membership(account.context_identifier, primary=True),),
            tags=tags or (),
            inactive=inactive,
            require_password_change=require_password_change,
        )
        try:
            self.registry.add_user(user)
        except Conflict as conflict:
            raise Refusal(conflict.message) from None
        if send:
            self.registry.send_credentials(username, password)
        return Result({"Success": True})

    def update_user(self, element: etree._Element) -> Result:
        """Absent attributes and absent or nil elements leave the user as it is."""
        request = members.request(element, "Request")
        generate = members.nillable_flag(request, "AutoGenerateNewPassword")
        send = members.nillable_flag(request, "SendCredentialsViaEmail")
        require_password_change = members.nillable_flag(request, "RequirePasswordChange")
        inactive = members.nillable_flag(request, "Inactive")
        locked = members.nillable_flag(request, "Locked")
        tags = members.tags(request)
        _, context_identifier = authorise(self.state, self.registry, request)
        user = self._member(context_identifier, request.get("UserName"))
        new_username = members.given(request, "NewUserName")
        password = self._password(members.given(request, "Password"), generate)
        updated = replace(
            user,
            username=self._username(new_username) if new_username else user.username,
            first_name=members.given(request, "FirstName") or user.first_name,
            last_name=members.given(request, "LastName") or user.last_name,
            role=self._role(members.given(request, "Role")) or user.role,
            password=password or user.password,
            # [INFERRED] a password set for the user is a new one, not an expired one.
            password_expired=user.password_expired and password is None,
            require_password_change=_unless_none(require_password_change, user.require_password_change),
            inactive=_unless_none(inactive, user.inactive),
            locked=_unless_none(locked, user.locked),
            tags=user.tags if tags is None else tags,
        )
        try:
            self.registry.replace_user(user.username, updated)
        except Conflict as conflict:
            raise Refusal(conflict.message) from None
        if locked is False:
            # The articles: "Locked as false to unlock a user locked out due to bad password attempts".
            self.state.unlock(user.username)
        if password is not None and send:
            self.registry.send_credentials(updated.username, password)
        return Result({"Success": True})

    def delete_user(self, element: etree._Element) -> Result:
        request = members.request(element, "Request")
        _, context_identifier = authorise(self.state, self.registry, request)
        user = self._member(context_identifier, request.get("UserName"))
        self.registry.leave(user.username, context_identifier)
        return Result({"Success": True})

    def _username(self, username: str) -> str:
        if not _EMAIL.fullmatch(username):
            raise Refusal(f"The user name '{username}' is not an e-mail address.")
        return username

    def _role(self, role: str | None) -> str | None:
        if role is not None and role not in self.seed.legacy.roles:
            raise Refusal(f"Role '{role}' is not one of the account's roles.")
        return role

    @staticmethod
    def _password(password: str | None, generate: bool | None) -> str | None:
        """The password to set: a generated one when asked for, else the one given, if any."""
        return secrets.token_urlsafe(12) if generate else (password or None)


def _unless_none(value: bool | None, current: bool) -> bool:
    """A nillable flag of an update: absent or nil leaves the current value."""
    return current if value is None else value
