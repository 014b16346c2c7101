"""The two vendor REST calls of the AuthenticateUser job (api-key strategy), as sent by the
bench's direct rows and by the hand-written peer; mappings/assuresign-api-key has the same."""

from __future__ import annotations

import json
import urllib.parse

API_USER_PATH = "/api/v3.7/authentication/apiUser"
SESSION_MINUTES = 60


def accounts_path(username: str) -> str:
    """`GET users/{username}/accounts`: the user's accounts, read with a bearer."""
    return f"/api/documentnow/v3.7/users/{urllib.parse.quote(username, safe='')}/accounts"


def api_user_body(api_username: str, key: str, username: str) -> bytes:
    """`POST apiUser`: the API user's key checked, a bearer issued for `username`."""
    return json.dumps({"request": {"apiUsername": api_username, "key": key,
                                   "contextUsername": username,
                                   "sessionLengthInMinutes": SESSION_MINUTES}}).encode()


def bearer_header(token: str) -> str:
    return f"bearer {token}"


def token_of(answer: object) -> str | None:
    """The bearer in an apiUser answer: `token`, or `result.token` when the tenant wraps it."""
    if not isinstance(answer, dict):
        return None
    token = answer.get("token")
    if token is None and isinstance(answer.get("result"), dict):
        token = answer["result"].get("token")
    return token if isinstance(token, str) and token else None
