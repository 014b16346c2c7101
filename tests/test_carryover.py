"""The legacy side's knowledge carried into the store by the command line: `passwd --learned`
(a verifier imported or removed) and `nmbrs map-ids` (Nmbrs' converters read from the
sandbox's legacy SOAP API into the id table)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.auth.verifiers import LearnedVerifiers
from bridge.rules.ids import IdMap
from bridge.sandbox.nmbrs.seed import load_nmbrs_seed
from bridge.store.sqlite import SqliteStore
from tests.servers import Server

SEED = load_nmbrs_seed()
MASTER = next(u for u in SEED.users if u.master)
STATE_KEY = "carryover-test-state-key-" + "x" * 16


def _config(tmp_path: Path, legacy: str | None = None) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"store: sqlite:///{tmp_path}/state.sqlite3\n"
                    + (f"legacy: {{base_url: {legacy}}}\n" if legacy else ""))
    return path


def _run(tmp_path: Path, *args: str, stdin: str = "", key: str | None = STATE_KEY
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SOAP_BRIDGE_STATE_KEY"}
    if key is not None:
        env["SOAP_BRIDGE_STATE_KEY"] = key
    return subprocess.run([sys.executable, "-m", "bridge", *args], input=stdin, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_passwd_learned_imports_a_token_from_stdin_and_deletes_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = _run(tmp_path, "passwd", MASTER.username, "--learned", "--config", str(config),
                "--password-stdin", stdin=MASTER.token + "\n")
    assert done.returncode == 0, done.stderr
    assert MASTER.token not in done.stdout + done.stderr

    store = SqliteStore(str(tmp_path / "state.sqlite3"))
    try:
        verifiers = LearnedVerifiers(store, STATE_KEY.encode())
        assert verifiers.verify(MASTER.username.upper(), MASTER.token)
        assert not verifiers.verify(MASTER.username, MASTER.token[::-1])
        # Under another state key the verifier is unreadable: never a match.
        assert not LearnedVerifiers(store, b"another-key" * 4).verify(MASTER.username,
                                                                      MASTER.token)
    finally:
        store.close()

    gone = _run(tmp_path, "passwd", MASTER.username, "--learned", "--config", str(config),
                "--delete")
    assert gone.returncode == 0 and "removed" in gone.stdout
    again = _run(tmp_path, "passwd", MASTER.username, "--learned", "--config", str(config),
                 "--delete")
    assert again.returncode == 1 and "was not there" in again.stdout


def test_passwd_learned_needs_the_state_key(tmp_path: Path) -> None:
    done = _run(tmp_path, "passwd", "someone", "--learned", "--config", str(_config(tmp_path)),
                "--password-stdin", stdin="secret\n", key=None)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "SOAP_BRIDGE_STATE_KEY: learned verifiers need the bridge's state key: set it (at least "
        "32 characters) as for serve"]


def test_map_ids_copies_the_converters_into_the_id_table(tmp_path: Path, sandbox: Server) -> None:
    config = _config(tmp_path, sandbox.url)
    done = _run(tmp_path, "nmbrs", "map-ids", "--config", str(config), "--user", MASTER.username,
                "--token-stdin", stdin=MASTER.token + "\n")
    assert done.returncode == 0, done.stderr
    companies = sum(1 for _ in SEED.companies())
    employees = sum(len(c.employees) for c in SEED.companies())
    assert done.stdout.splitlines() == [f"debtor: {len(SEED.debtors)} written",
                                        f"company: {companies} written",
                                        f"employee: {employees} written"]

    store = SqliteStore(str(tmp_path / "state.sqlite3"))
    try:
        table = IdMap(store)
        for company in SEED.companies():
            assert table.int_of("company", company.guid, mint=False) == company.id
            for employee in company.employees:
                assert table.guid_of("employee", employee.id) == employee.guid
        assert table.guid_of("debtor", 40002) == next(d.guid for d in SEED.debtors
                                                      if d.id == 40002)
    finally:
        store.close()

    again = _run(tmp_path, "nmbrs", "map-ids", "--config", str(config), "--user",
                 MASTER.username, "--token-stdin", stdin=MASTER.token + "\n")
    assert again.returncode == 0 and again.stdout.startswith(f"debtor: {len(SEED.debtors)} known")


def test_map_ids_tells_a_refused_token_in_one_line(tmp_path: Path, sandbox: Server) -> None:
    done = _run(tmp_path, "nmbrs", "map-ids", "--config", str(_config(tmp_path, sandbox.url)),
                "--user", MASTER.username, "--token-stdin", stdin="0" * 32 + "\n")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "soap-bridge nmbrs map-ids: DebtorService.Converter_GetDebtors_IntToGuid faulted: "
        "Server was unable to process request. ---> 1001: Invalid Authentication"]


def test_map_ids_needs_a_legacy_service(tmp_path: Path) -> None:
    done = _run(tmp_path, "nmbrs", "map-ids", "--config", str(_config(tmp_path)), "--user",
                "x", "--token-stdin", stdin="t\n")
    assert done.returncode == 2
    assert "legacy: needs the base_url of Nmbrs' SOAP API" in done.stderr
