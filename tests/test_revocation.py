"""`soap-bridge revoke` and the revocation `unlock` makes, run as the command; the warning a
Redis store keeping the generated token key gets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bridge.auth.keyring import KeyRing
from bridge.auth.tokens import REVOKED, Grant, Refused, TokenIssuer
from bridge.check import config_warnings
from bridge.config import load_config
from bridge.store import SqliteStore
from tests.servers import write_config


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def _tokens(tmp_path: Path) -> tuple[SqliteStore, TokenIssuer, list[str]]:
    store = SqliteStore(str(tmp_path / "state" / "bridge.sqlite3"))
    issuer = TokenIssuer(store, KeyRing.of(["k" * 40]))
    return store, issuer, [issuer.issue(Grant(name, "b")) for name in ("ruß@x.com", "ann@x.com")]


def test_revoke_refuses_the_users_tokens_and_no_one_elses(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    store, issuer, (russ, ann) = _tokens(tmp_path)
    time.sleep(0.01)
    done = _run(tmp_path, "revoke", "RUSS@x.com", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("RUSS@x.com: tokens issued until ")
    assert issuer.check(russ) == Refused(REVOKED)  # the same identity, however spelt
    assert isinstance(issuer.check(ann), Grant)
    store.close()


def test_unlock_revokes_unless_told_to_keep_the_tokens(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    store, issuer, (russ, ann) = _tokens(tmp_path)
    time.sleep(0.01)
    kept = _run(tmp_path, "unlock", "ann@x.com", "--keep-tokens", "--config", str(config))
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout == "ann@x.com: unlocked (failure count cleared)\n"
    assert isinstance(issuer.check(ann), Grant)
    done = _run(tmp_path, "unlock", "ruß@x.com", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "tokens issued until" in done.stdout
    assert issuer.check(russ) == Refused(REVOKED)
    store.close()


def test_revoke_with_a_broken_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("tokens: {keys: 3}\n")
    done = _run(tmp_path, "revoke", "ann@x.com", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}:1:" in done.stderr and "Traceback" not in done.stderr


def test_a_redis_store_keeping_the_generated_key_is_warned_of(tmp_path: Path) -> None:
    def warnings(**overrides: object) -> list[str]:
        config = load_config(str(write_config(tmp_path, "https://127.0.0.1:9", **overrides)))
        return [p.message for p in config_warnings(config, {}) if "tokens.keys" in p.message]

    assert warnings(store="redis://127.0.0.1:6379/0") == [
        "tokens.keys is not set: the token key is generated and kept in the Redis store, so "
        "whoever can read the store can mint AuthenticationTokens; set tokens.keys "
        '(docs/operations.md, "Token keys")']
    assert warnings(store="redis://127.0.0.1:6379/0", tokens={"keys": ["api_key"]}) == []
    assert warnings() == []  # SQLite: the key sits with everything else in the state folder
