"""Marker secrets used in real logins never show up in output, logs or the state folder."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from tests.servers import REPO, free_port, post_login, start_bridge, start_process, write_config


def test_no_secret_reaches_logs_or_state(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    password, wrong, key = f"Pass-{marker}", f"Wrong-{marker}", f"Key-{marker}"
    seed = yaml.safe_load((REPO / "bridge" / "sandbox" / "seed.yaml").read_text())
    seed["users"].append({
        "username": "marker@example.com", "password": password, "first_name": "M",
        "last_name": "K", "status": "active",
        "accounts": [{"context_identifier": "821ae27f-027c-4f21-a2e5-1667fc9b650a",
                      "name": "Example, Inc.", "primary": True}],
    })
    seed["api_users"].append({"username": "marker-api", "key": key,
                              "scope": {"kind": "organisation"}, "expires": "2099-12-31",
                              "revoked": False})
    seed_path = tmp_path / "seed.yaml"
    seed_path.write_text(yaml.safe_dump(seed))
    port = free_port()
    sandbox = start_process(["sandbox", "--port", str(port), "--seed", str(seed_path)],
                            tmp_path / "sandbox", f"http://127.0.0.1:{port}/_sandbox/healthz")
    workdir = tmp_path / "bridge"
    bridge = start_bridge(workdir, write_config(workdir, sandbox.url), workers=1,
                          env={"TEST_API_USERNAME": "marker-api", "TEST_API_KEY": key},
                          extra_args=["--log-level", "debug"])
    tokens = []
    try:
        ok = post_login(bridge, "marker@example.com", password)
        assert b'Success="true"' in ok.content
        tokens.append(ok.content.split(b'AuthenticationToken="')[1].split(b'"')[0])
        for _ in range(6):  # through the lockout
            assert b'Success="false"' in post_login(bridge, "marker@example.com", wrong).content
    finally:
        bridge.stop()
        sandbox.stop()
    everything = bridge.output().encode()
    for path in (workdir / "state").rglob("*"):
        if path.is_file():
            everything += path.read_bytes()
    # The logs were really written at debug level and cover the whole story.
    assert b'"level": "debug"' in everything and b'"step": "bearer"' in everything
    assert b'"outcome": "locked_out"' in everything
    # Every line logged while serving a request carries that request's id.
    step_lines = [line for line in bridge.output().splitlines() if '"msg": "upstream step"' in line]
    assert step_lines and all('"request_id": "' in line for line in step_lines)
    # The accounts path names the user: the step line gives the path as the rule writes it.
    assert any('"step": "accounts"' in line for line in step_lines)
    assert not [line for line in step_lines if "marker@" in line or "marker%40" in line]
    for secret in (password.encode(), wrong.encode(), key.encode(), *tokens):
        assert secret not in everything, secret
