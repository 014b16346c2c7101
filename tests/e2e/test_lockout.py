"""The lockout under attack on real servers: fifty guesses at once against a slow upstream,
on SQLite and on two bridges sharing Redis, reach the upstream at most `max_failures`
times and never log in once the lock stands; the spellings of one name share one count."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from tests.servers import (
    Server,
    post_login,
    sandbox_calls,
    sandbox_control,
    start_bridge,
    write_config,
)
from tests.soapxml import refusal

REDIS = "redis://127.0.0.1:6379/0"
MAX_FAILURES = 5
CREDENTIALS = "authentication/credentials"


def _checks(sandbox: Server) -> int:
    return sandbox_calls(sandbox).get("credentials", 0)


@pytest.fixture(params=["sqlite", "redis"])
def bridges(request: pytest.FixtureRequest, sandbox: Server, tmp_path: Path
            ) -> Iterator[list[Server]]:
    """One bridge on SQLite, or two sharing one Redis; 2 workers x 32 threads each."""
    store = {"sqlite": None, "redis": f"{REDIS}?prefix=test-{uuid.uuid4().hex}:"}[request.param]
    names = ["a"] if store is None else ["a", "b"]
    started: list[Server] = []
    try:
        for name in names:
            overrides = {"store": store} if store else {}
            config = write_config(tmp_path / name, sandbox.url, **overrides)
            started.append(start_bridge(tmp_path / name, config, workers=2,
                                        env={"SOAP_BRIDGE_STATE_KEY": "k" * 40},
                                        extra_args=["--threads", "32"]))
        yield started
    finally:
        for server in started:
            server.stop()
        if store is not None:
            raw = redis.Redis.from_url(REDIS)
            for key in raw.scan_iter(match=store.split("prefix=")[1] + "*"):
                raw.delete(key)
            raw.close()


def test_fifty_guesses_at_once_check_at_most_max_failures_and_never_log_in(
        bridges: list[Server], sandbox: Server) -> None:
    user = "multi@example.com"
    # Every password check takes 300 ms: time enough for all the guesses to race it.
    sandbox_control(sandbox, delay_ms=300, paths=[CREDENTIALS])

    def guess(index: int) -> requests.Response:
        return post_login(bridges[index % len(bridges)], user, f"wrong-{index}")

    def right_password_once_checks_are_running() -> requests.Response:
        # Sent while the first guesses are being checked: before the lockout held each check,
        # this one reached the upstream too and logged in after the fifth failure.
        deadline = time.monotonic() + 5
        while _checks(sandbox) < MAX_FAILURES and time.monotonic() < deadline:
            time.sleep(0.01)
        return post_login(bridges[-1], user, "Password")

    with ThreadPoolExecutor(50) as pool:
        wrong = [pool.submit(guess, index) for index in range(49)]
        right = pool.submit(right_password_once_checks_are_running)
        answers = [future.result() for future in (*wrong, right)]

    assert _checks(sandbox) == MAX_FAILURES  # 50 before the holds
    assert all(answer.status_code == 200 for answer in answers)
    assert all(refusal(answer.content)[0] == "Invalid user name or password."
               for answer in answers)
    sandbox_control(sandbox)
    # The lock stands on every bridge: the right password is refused, unchecked.
    for server in bridges:
        assert refusal(post_login(server, user, "Password").content)[0] == (
            "Invalid user name or password.")
    assert _checks(sandbox) == MAX_FAILURES
    logs = "".join(server.output() for server in bridges)
    assert "this failure locked the user (temporary)" in logs
    assert "the checks this lock cycle allows are all being made" in logs


def test_the_spellings_of_one_name_share_one_count(bridge: Server, sandbox: Server) -> None:
    tag = uuid.uuid4().hex[:8]
    spellings = [f"ruß-{tag}@example.com", f"ru\u017f\u017f-{tag}@example.com",
                 f"RUẞ-{tag}@EXAMPLE.COM"]
    for index in range(MAX_FAILURES):
        post_login(bridge, spellings[index % 3], "wrong")
    assert _checks(sandbox) == MAX_FAILURES
    for name in (*spellings, f"russ-{tag}@example.com"):
        assert refusal(post_login(bridge, name, "wrong").content)[0] == (
            "Invalid user name or password.")
    assert _checks(sandbox) == MAX_FAILURES  # locked under every spelling: nobody asked
