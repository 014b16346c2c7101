"""A recording does not tell which users share a password: each user's secrets are referenced
under a key of that user's own, and the replay restores them with the same one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bridge.migrate.compare import CompareRules, Side
from bridge.migrate.plan import Plan
from bridge.migrate.recording import Recordings, user_references_key
from bridge.migrate.replay import Replayer, restore
from bridge.migrate.routing import Routing
from bridge.store import MemoryStore

KEY = b"k" * 32


def _request(user: str, password: str) -> dict[str, Any]:
    return {"body": {"Request": {"UserName": user, "Password": password}}, "header": {}}


def _captured(users: list[tuple[str, str]]) -> list[dict[str, Any]]:
    store = MemoryStore()
    recordings = Recordings(store, None, KEY)
    recordings.start(60, [], max_entries=100, max_age=3600)
    for user, password in users:
        legacy = Side("result", {"R": {"Token": f"legacy-token-of-{user}"}}, 1.0)
        assert recordings.capture("Op", "/p", _request(user, password), legacy, CompareRules(),
                                  False, user)
    return store.records("recordings", 0)


def _password(entry: dict[str, Any]) -> str:
    return str(entry["request"]["body"]["Request"]["Password"])


def test_the_same_password_of_two_users_gives_two_references() -> None:
    shared = "Shared-Pw-91c2"
    jdoe, multi, jdoe_again, other_case = _captured([
        ("jdoe@example.com", shared), ("multi@example.com", shared),
        ("jdoe@example.com", shared), ("JDoe@Example.com", shared)])
    assert _password(jdoe).startswith("ref-") and _password(multi).startswith("ref-")
    assert _password(jdoe) != _password(multi)
    # One user's same secret is still one reference (a replay tells a typo from it) …
    assert _password(jdoe) == _password(jdoe_again)
    # … however the user name was written, as the bridge matches users.
    assert _password(jdoe) == _password(other_case)
    assert shared not in str([jdoe, multi])


def test_the_replay_restores_each_users_secret_with_that_users_key() -> None:
    (jdoe, multi) = _captured([("jdoe@example.com", "Password"), ("multi@example.com", "Other")])
    jdoe_key = user_references_key(KEY, "jdoe@example.com")
    assert restore(jdoe["request"], "Password", jdoe_key)["body"]["Request"]["Password"] == \
        "Password"
    # Another user's key does not take jdoe's reference for the password given.
    assert restore(jdoe["request"], "Password", user_references_key(KEY, "multi@example.com")
                   ) == jdoe["request"]
    # The Replayer finds the key itself, from the recorded user name.
    seen: list[dict[str, Any]] = []
    rule: Any = SimpleNamespace(changes_data=False, verify=SimpleNamespace(username="user"),
                                inputs=[SimpleNamespace(name="user",
                                                        path="body.Request.UserName")])

    def run(_rule: Any, request: dict[str, Any], dry_run: bool) -> Any:
        seen.append(request)
        raise RuntimeError("enough: the request is what this test looks at")

    engine: Any = SimpleNamespace(run=run)
    plan = Plan(rules={"Op": rule}, routing=Routing())
    service: Any = SimpleNamespace(operations={"Op": object()})
    replayer = Replayer(engine, service, lambda: plan, MemoryStore(), KEY, True, KEY)
    for entry, secrets in ((jdoe, {"jdoe@example.com": "Password"}),
                           (multi, {"multi@example.com": "Other"})):
        try:
            replayer.one(entry, secrets)
        except RuntimeError:
            pass
    assert [_password({"request": request}) for request in seen] == ["Password", "Other"]
