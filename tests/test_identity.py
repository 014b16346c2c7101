"""One user, one identity: NFKC, casefold, strip, in one function, and every per-user key
and comparison made of it; keys made of the earlier forms are still found."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bridge.auth.lockout import Lockout, LockoutPolicy
from bridge.auth.passwords import CredentialsFile, LocalUser, hash_password, write_credentials
from bridge.auth.ratelimit import Limit, RateLimiter, RateLimits
from bridge.auth.seal import fingerprint
from bridge.auth.tokens import Grant
from bridge.directory import LocalDirectory, learn_directory
from bridge.identity import identity
from bridge.migrate.routing import Cohort, bucket
from bridge.rules.template import Template
from bridge.store import MemoryStore, SqliteStore
from tests.servers import write_config

# Eszett, two long s, capital sharp s: one name to Unicode's case folding, three to lower().
SPELLINGS = ("ruß@x.com", "ru\u017f\u017f@x.com", "RUẞ@x.com")
ACCOUNT = {"contextIdentifier": "11111111-2222-3333-4444-555555555555", "name": "A",
           "isPrimary": True}


def test_nfkc_then_casefold_then_strip() -> None:
    assert {identity(name) for name in SPELLINGS} == {"russ@x.com"}
    assert identity(" \uff2a\uff24\uff4f\uff45@Example.COM\u3000") == "jdoe@example.com"  # full width
    assert identity("\ufb01ona@x.com") == "fiona@x.com"  # the fi ligature
    assert identity(identity(" RUẞ@x.com ")) == identity(" RUẞ@x.com ")


def test_the_rules_filter_gives_the_identity_and_lower_still_works() -> None:
    scope = {"input": {"username": " RUẞ@X.com "}}
    assert Template("{{ input.username | identity }}").render(scope) == "russ@x.com"
    assert Template("{{ input.username | strip | lower }}").render(scope) == "ruß@x.com"
    assert Template("{{ input.missing | identity }}").render(scope) is None


def test_rate_limits_count_the_spellings_in_one_window() -> None:
    limiter = RateLimiter(MemoryStore(), RateLimits(per_user=Limit(limit=2, window=60)))
    assert [limiter.over(None, name) is None for name in SPELLINGS] == [True, True, False]


def test_routing_puts_the_spellings_in_one_place() -> None:
    assert len({bucket(name) for name in SPELLINGS}) == 1
    cohort = Cohort("named", "rest", users=frozenset({identity("RUSS@x.com")}),
                    domains=frozenset({identity("\uff38.com")}))  # a full-width X
    assert all(cohort.includes(name) for name in SPELLINGS)
    assert cohort.includes("someone@X.COM")


def test_a_token_belongs_to_its_user_however_spelt() -> None:
    grant = Grant(subject="ruß@x.com", bearer="b", context=None, operation="AuthenticateUser")
    assert all(grant.belongs_to(name) for name in SPELLINGS)
    assert not grant.belongs_to("rus@x.com")


def test_the_directory_file_and_credentials_file_find_the_spellings(tmp_path: Path) -> None:
    listed = tmp_path / "directory.yaml"
    listed.write_text("users:\n  RUẞ@x.com: {firstName: Rudi}\n")
    directory = LocalDirectory(("file",), MemoryStore(), str(listed))
    assert [directory.entry(name) for name in SPELLINGS] == [
        {"accounts": [], "firstName": "Rudi"}] * 3
    credentials = tmp_path / "credentials.yaml"
    write_credentials(str(credentials), {"x": LocalUser("RUẞ@x.com", hash_password("pw"))})
    assert all(CredentialsFile(str(credentials)).verify(name, "pw").ok for name in SPELLINGS)


def test_a_learned_entry_under_the_old_key_is_found_and_upgraded_when_learned_again() -> None:
    store = MemoryStore()
    # As learned before identity: keyed by the trimmed, casefolded name, which kept the
    # full-width letters that NFKC now folds.
    wide = "\uff2a\uff24\uff4f\uff45@x.com"
    old = "directory:" + fingerprint(wide.casefold(), "directory-user")
    store.set(old, {"username": wide, "accounts": [ACCOUNT]}, 86400)
    directory = LocalDirectory(("learned",), store, None)
    assert directory.entry(f" {wide} ") == {"accounts": [ACCOUNT]}
    learn_directory(store, wide, [ACCOUNT], {"firstName": "Jo"})
    assert store.get(old) is None
    assert directory.entry("JDoe@x.com") == {"accounts": [ACCOUNT], "firstName": "Jo"}


def test_unlock_on_the_command_line_lifts_locks_of_either_form(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    store = SqliteStore(str(tmp_path / "state" / "bridge.sqlite3"))
    lockout = Lockout(store, LockoutPolicy(max_failures=1, window=60, duration=600))
    lockout.record_failure("russ@x.com")  # a lock under the identity
    # and a permanent one as the lockout keyed it before: trimmed, lower-cased
    store.set("lockout:lock:" + fingerprint("ruß@x.com", "lockout-subject"), time.time(), 86400)
    done = subprocess.run([sys.executable, "-m", "bridge", "unlock", "Ruß@X.com", "--config",
                           str(config)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert not lockout.standing("ruß@x.com").locked
    store.close()
