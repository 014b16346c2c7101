"""Configuration loading: defaults, relative paths, durations, secrets, located problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import MissingSecret, load_config, resolve_secrets
from bridge.durations import parse_duration
from bridge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("value", "seconds"), [
    ("30m", 1800), ("15s", 15), ("1h", 3600), ("250ms", 0.25), (12, 12), ("2", 2), ("1.5m", 90)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 weeks", True, ""])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_demo_config_resolves_paths_relative_to_itself() -> None:
    config = load_config(str(REPO / "examples" / "demo.yaml"))
    assert config.wsdl == str(REPO / "wsdl" / "DocumentNOW.wsdl")
    assert config.mappings == (str(REPO / "mappings" / "assuresign"),)
    assert config.token_ttl == 1800
    assert (config.lockout.max_failures, config.lockout.window) == (5, 900)
    assert config.sandbox is not None and config.sandbox.api_user == "bridge-demo"
    assert config.upstreams["account"].read_timeout == 5
    assert config.directory.file == "sandbox"  # the seed's directory file, found in demo mode


def test_the_sandbox_directory_file_is_for_demo_mode_only(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("directory: {file: sandbox}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1: directory.file: sandbox is the sandbox's directory file, for demo mode: it "
        "needs a sandbox: section"]
    path.write_text("directory: {file: sandbox}\nsandbox: {api_user: bridge-demo}\n")
    assert load_config(str(path)).directory.file == "sandbox"
    path.write_text("directory: {file: names.yaml}\n")
    assert load_config(str(path)).directory.file == str(tmp_path / "names.yaml")


def test_defaults_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("")
    config = load_config(str(path))
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8080, 2)
    assert config.store == "sqlite:///state/soap-bridge.sqlite3"
    assert config.max_body_bytes == 1024 * 1024


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "tokens: {ttl: forever}\n"
        "lockout:\n  max_failures: 0\n"
        "upstreams:\n  account: {url: x}\n"
        "secrets:\n  k: {env: A, file: B}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    messages = [str(p) for p in caught.value.problems]
    assert f"{path}:1: ttl: 'forever' is not a duration (e.g. 30s, 15m, 1h)" in messages
    assert f"{path}:3: max_failures must be a whole number ≥ 1" in messages
    assert f"{path}:5: upstream 'account' needs a base_url" in messages
    assert any(m.startswith(f"{path}:7: secret 'k' must be") for m in messages)


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key.txt").write_text("from-file\n")
    path = tmp_path / "c.yaml"
    path.write_text("secrets:\n  a: {env: TEST_SECRET_A}\n  b: {file: key.txt}\n")
    monkeypatch.setenv("TEST_SECRET_A", "from-env")
    assert resolve_secrets(load_config(str(path))) == {"a": "from-env", "b": "from-file"}
    monkeypatch.delenv("TEST_SECRET_A")
    with pytest.raises(MissingSecret, match="environment variable TEST_SECRET_A is not set"):
        resolve_secrets(load_config(str(path)))


def test_section_keys_levels_stores_and_flags_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "listen: {host: 0.0.0.0, prot: 1}\n"
        "log_level: chatty\n"
        "store: mongodb://localhost\n"
        "upstreams:\n  a: {base_url: 'http://x', verify_tls: 'false'}\n"
        "sandbox: {seeds: x}\n"
        "legacy: {base_url: 'ftp://old.example'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    messages = [str(p) for p in caught.value.problems]
    assert f"{path}:1: unknown setting 'prot' (known: host, port)" in messages
    assert f"{path}:2: log_level must be one of debug, info, warning, error" in messages
    assert (f"{path}:3: store must be memory://, sqlite:///PATH or redis://HOST:PORT/DB, "
            "not mongodb://…") in messages
    assert f"{path}:5: verify_tls must be true or false (unquoted)" in messages
    assert f"{path}:6: unknown setting 'seeds' (known: api_user, seed)" in messages
    assert (f"{path}:7: base_url must be http(s)://host[:port][/path] (or sandbox, in demo "
            "mode)") in messages
