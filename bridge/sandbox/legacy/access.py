"""Who calls a management operation: the user behind a live AuthenticationToken, let into the account."""

from __future__ import annotations

from lxml import etree

from ..state import LEGACY, SandboxState
from . import members
from .operation import Refusal
from .registry import LegacyUser, Registry

# Documented: the AuthenticationToken times out for API use after 30 minutes.
TOKEN_LIFETIME_S = 30 * 60
INVALID_TOKEN = "Authentication token is invalid or has expired."  # noqa: S105


def issue_token(state: SandboxState, user: LegacyUser) -> str:
    return state.issue(LEGACY, user.username, TOKEN_LIFETIME_S)


def authorise(state: SandboxState, registry: Registry, request: etree._Element) -> tuple[LegacyUser, str]:
    """The caller and the Request's ContextIdentifier, or the refusal if the token may not act there."""
    context_identifier = members.guid(request, "ContextIdentifier")
    grant = state.grant(request.get("AuthenticationToken") or "", LEGACY)
    # A user deleted or renamed since the login has no token any more.
    caller = registry.user(grant.username) if grant is not None else None
    if caller is None:
        raise Refusal(INVALID_TOKEN)
    if not registry.may_manage(caller, context_identifier):
        raise Refusal(f"The user has no access to the account {context_identifier}.")
    return caller, context_identifier
