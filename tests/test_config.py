"""Configuration loading: defaults, relative paths, durations, secrets, located problems."""

from __future__ import annotations

import re
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.auth.lockout import LockoutPolicy
from bridge.auth.passwords import hash_password
from bridge.config import (
    LEGACY_MAX_ANSWER_BYTES,
    Config,
    DirectorySettings,
    MissingSecret,
    SandboxSettings,
    SideCallSettings,
    exposed_files,
    load_config,
    resolve_secrets,
)
from bridge.durations import parse_duration
from bridge.errors import ConfigError
from bridge.migrate.routing import Routing
from bridge.soap.xmlparse import XmlLimits
from bridge.upstream.rest import Endpoint

REPO = Path(__file__).resolve().parents[1]


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    return [str(p) for p in caught.value.problems]


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
    messages = _problems(path)
    assert f"{path}:1: ttl: 'forever' is not a duration (e.g. 30s, 15m, 1h)" in messages
    assert f"{path}:3: max_failures must be a whole number ≥ 1" in messages
    assert f"{path}:5: upstream 'account' needs a base_url" in messages
    assert any(m.startswith(f"{path}:7: secret 'k' must be") for m in messages)


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "key.txt").write_text("from-file\n")
    (tmp_path / "key.txt").chmod(0o600)
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
    messages = _problems(path)
    assert f"{path}:1: unknown setting 'prot': did you mean 'port'? (known: host, port)" in messages
    assert f"{path}:2: log_level must be one of debug, info, warning, error" in messages
    assert (f"{path}:3: store must be memory://, sqlite:///PATH or redis://HOST:PORT/DB, "
            "not mongodb://…") in messages
    assert f"{path}:5: verify_tls must be true or false (unquoted)" in messages
    assert f"{path}:6: unknown setting 'seeds': did you mean 'seed'? (known: api_user, seed)" in (
        messages)
    assert (f"{path}:7: base_url must be http(s)://host[:port][/path] (or sandbox, in demo "
            "mode)") in messages


def test_urls_with_bad_ports_or_userinfo_are_refused_without_echoing_them(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "upstreams:\n"
        "  a: {base_url: 'https://vendor.example:99999'}\n"
        "  b: {base_url: 'https://vendor.example:0/api'}\n"
        "  c: {base_url: 'https://api-user:s3cr3t-pw@vendor.example'}\n"
        "legacy: {base_url: 'http://old.example:port'}\n"
        "listen: {port: 70000}\n"
        "public_url: 'bridge.example.com'\n"
    )
    messages = _problems(path)
    assert f"{path}:2: base_url: the port must be a number from 1 to 65535" in messages
    assert f"{path}:3: base_url: the port must be a number from 1 to 65535" in messages
    assert (f"{path}:4: base_url must not carry a user name or password (user:password@host)"
            in messages)
    assert f"{path}:5: base_url: the port must be a number from 1 to 65535" in messages
    assert f"{path}:6: port must be a whole number ≥ 0 and ≤ 65535" in messages
    assert f"{path}:7: public_url must be http(s)://host[:port][/path]" in messages
    assert not any("s3cr3t-pw" in m or "api-user" in m for m in messages)


def test_token_exchange_clients_take_a_hash_only(tmp_path: Path) -> None:
    argon2, bcrypt = hash_password("one", "argon2id"), hash_password("two", "bcrypt")
    path = tmp_path / "c.yaml"
    path.write_text(f"token_exchange:\n  clients:\n    a: {{secret_hash: '{argon2}'}}\n"
                    f"    b: {{secret_hash: '{bcrypt}'}}\n")
    assert load_config(str(path)).token_clients == {"a": argon2, "b": bcrypt}
    path.write_text("token_exchange:\n  clients:\n    a: {secret: plain-secret}\n"
                    "    b: {secret_hash: '$1$md5$nope'}\n  client: x\n")
    messages = _problems(path)
    assert any(m.startswith(f"{path}:3: token_exchange client 'a' takes {{secret_hash:")
               for m in messages)
    assert any(m.startswith(f"{path}:4: token_exchange client 'b' takes") for m in messages)
    assert f"{path}:5: unknown setting 'client': did you mean 'clients'? (known: clients)" in (
        messages)
    assert not any("plain-secret" in m for m in messages)


def test_secret_and_credentials_files_others_can_read_are_refused(tmp_path: Path) -> None:
    key, credentials = tmp_path / "key.txt", tmp_path / "credentials.yaml"
    key.write_text("k")
    credentials.write_text("users: {}\n")
    key.chmod(0o644)
    credentials.chmod(0o640)
    path = tmp_path / "c.yaml"
    path.write_text("secrets:\n  api_key: {file: key.txt}\ncredentials_file: credentials.yaml\n")
    config = load_config(str(path))
    assert [str(p) for p in exposed_files(config)] == [
        f"{path}: secret 'api_key': {key} is readable by group or others (mode 0644); chmod 600 "
        "it, or set allow_readable_secret_files: true",
        f"{path}: credentials_file: {credentials} is readable by group or others (mode 0640); "
        "chmod 600 it, or set allow_readable_secret_files: true"]
    with pytest.raises(ConfigError, match="readable by group or others"):
        resolve_secrets(config)
    key.chmod(0o600)
    credentials.chmod(0o600)
    assert resolve_secrets(config) == {"api_key": "k"}
    key.chmod(0o444)
    path.write_text(path.read_text() + "allow_readable_secret_files: true\n")
    assert resolve_secrets(load_config(str(path))) == {"api_key": "k"}


def test_request_limits_and_read_deadlines(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("limits: {max_body_bytes: 2048, max_elements: 50, max_namespaces: 3, "
                    "header_timeout: 2s, body_timeout: 500ms}\n")
    config = load_config(str(path))
    assert (config.xml_limits.max_bytes, config.xml_limits.max_elements,
            config.xml_limits.max_namespaces) == (2048, 50, 3)
    assert config.xml_limits.max_attributes_per_element == 128  # the default
    assert (config.header_timeout, config.body_timeout) == (2, 0.5)
    path.write_text("limits: {max_depth: 0, body_timeout: soon, max_atributes: 5}\n")
    messages = _problems(path)
    assert f"{path}:1: max_depth must be a whole number ≥ 1" in messages
    assert any(m.startswith(f"{path}:1: body_timeout: 'soon' is not a duration") for m in messages)
    assert any(m.startswith(f"{path}:1: unknown setting 'max_atributes': did you mean "
                            "'max_attributes'? (known: body_timeout, header_timeout, "
                            "max_attribute_length, max_attributes, ")
               for m in messages)


def test_upstream_deadline_and_answer_cap(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "upstreams:\n"
        "  a: {base_url: 'https://a.example', connect_timeout: 2s, read_timeout: 5s}\n"
        "  b: {base_url: 'https://b.example', deadline: 4s, max_answer_bytes: 4096}\n"
        "legacy: {base_url: 'https://old.example'}\n")
    config = load_config(str(path))
    a, b, legacy = config.upstreams["a"], config.upstreams["b"], config.legacy
    assert legacy is not None
    assert (a.total_deadline, a.max_answer_bytes) == (7, 1024 * 1024)
    assert (b.total_deadline, b.max_answer_bytes) == (4, 4096)
    assert (legacy.total_deadline, legacy.max_answer_bytes) == (13, 64 * 1024 * 1024)
    path.write_text("upstreams:\n  a: {base_url: 'https://a.example', deadline: 0, "
                    "max_answer_bytes: 10}\n")
    messages = _problems(path)
    assert f"{path}:2: deadline must be positive" in messages
    assert f"{path}:2: max_answer_bytes must be a whole number ≥ 1024" in messages


def test_a_misspelt_key_gets_the_known_keys_and_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lockout:\n  duraton: 5m\nworkrs: 2\nupstreams:\n"
                    "  a: {base_url: 'https://a.example', read_timout: 1s, breaker: {failure: 2}}\n"
                    "routing:\n  operation: {}\n")
    messages = _problems(path)
    assert messages == [
        f"{path}:3: unknown setting 'workrs': did you mean 'workers'? (known: "
        "allow_readable_secret_files, contexts, credentials_file, directory, fault_style, grants, "
        "legacy, "
        "limits, listen, lockout, log_level, mappings, operator_keys, public_url, rate_limits, "
        "record, rest_facade, routing, sandbox, secrets, services, side_calls, sso, store, "
        "token_exchange, tokens, trusted_proxies, upstreams, vars, workers, wsdl, wsdl_path)",
        f"{path}:2: unknown setting 'duraton': did you mean 'duration'? (known: duration, "
        "max_duration, max_failures, permanent_after, quick_login_check, quick_login_wait, "
        "window)",
        f"{path}:5: unknown upstream setting 'read_timout': did you mean 'read_timeout'? "
        "(known: base_url, breaker, connect_timeout, deadline, max_answer_bytes, read_timeout, "
        "verify_tls)",
        f"{path}:5: unknown breaker setting 'failure': did you mean 'failures'? (known: "
        "failures, open_for)",
        f"{path}:7: unknown routing setting 'operation': did you mean 'operations'? (known: "
        "default, operations, promotion_check, unmapped)",
    ]


def test_left_out_settings_take_the_dataclasses_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("upstreams:\n  a: {base_url: 'https://a.example'}\n"
                    "legacy: {base_url: 'https://old.example'}\nsandbox: {}\n")
    config = load_config(str(path))
    assert config.lockout == LockoutPolicy()
    assert config.xml_limits == XmlLimits()
    assert config.max_body_bytes == XmlLimits().max_bytes
    assert config.side_calls == SideCallSettings()
    assert config.directory == DirectorySettings()
    assert config.sandbox == SandboxSettings()
    assert config.routing == Routing()
    assert config.upstreams["a"] == Endpoint("a", "https://a.example")
    assert config.legacy == Endpoint("legacy", "https://old.example",
                                     max_answer_bytes=LEGACY_MAX_ANSWER_BYTES)
    defaults = Config(source=str(path), wsdl=config.wsdl, mappings=config.mappings,
                      upstreams=config.upstreams, legacy=config.legacy, sandbox=config.sandbox)
    assert config == defaults


# The configuration reference's defaults (docs/operations.md), and where each is in force
# (attributes of Config, `.`-separated; the upstream is the test's `a`).
_DOCUMENTED = {
    "wsdl_path": "wsdl_path", "store": "store", "listen.host": "host", "listen.port": "port",
    "workers": "workers", "log_level": "log_level", "tokens.ttl": "token_ttl",
    **{f"lockout.{key}": f"lockout.{key}" for key in (
        "max_failures", "window", "duration", "max_duration", "permanent_after",
        "quick_login_wait")},
    "limits.max_body_bytes": "max_body_bytes",
    **{f"limits.{key}": f"xml_limits.{key}" for key in (
        "max_depth", "max_elements", "max_attributes", "max_attributes_per_element",
        "max_attribute_length", "max_namespaces")},
    "limits.header_timeout": "header_timeout", "limits.body_timeout": "body_timeout",
    "trusted_proxies": "trusted_proxies",
    **{f"upstreams.<name>.{key}": f"upstreams.a.{key}" for key in (
        "connect_timeout", "read_timeout", "verify_tls", "breaker", "max_answer_bytes")},
    **{f"legacy.{key}": f"legacy.{key}" for key in (
        "connect_timeout", "read_timeout", "verify_tls", "max_answer_bytes")},
    "allow_readable_secret_files": "allow_readable_secret_files",
    "sandbox.api_user": "sandbox.api_user",
    "routing.default": "routing.default", "routing.unmapped": "routing.unmapped",
    **{f"side_calls.{key}": f"side_calls.{key}" for key in (
        "queue", "workers", "timeout", "noise_sample", "retain")},
    "directory.sources": "directory.sources", "operator_keys": "operator_keys",
    **{f"contexts.{key}": f"contexts.{key}" for key in ("holders", "from_directory",
                                                         "require_token")},
}


def _in_force(config: Config, where: str) -> Any:
    value: Any = config
    for name in where.split("."):
        value = value[name] if isinstance(value, dict) else getattr(value, name)
    return value


def _documented_defaults() -> dict[str, Any]:
    """`| key [/ key…] | default [/ default…] | …` rows of the configuration reference, each
    default the YAML in its backticks."""
    defaults: dict[str, Any] = {}
    for row in (REPO / "docs" / "operations.md").read_text().splitlines():
        cells = row.split(" | ")
        if not row.startswith("| `") or len(cells) < 2:
            continue
        keys = re.findall(r"`([^`]+)`", cells[0])
        section = keys[0].rsplit(".", 1)[0] + "." if "." in keys[0] else ""
        values = re.findall(r"`([^`]+)`", cells[1])
        for index, (key, value) in enumerate(zip(keys, values, strict=False)):
            defaults.setdefault(key if index == 0 else section + key, yaml.safe_load(value))
    return defaults


def _same(documented: Any, actual: Any) -> bool:
    if is_dataclass(actual):
        return isinstance(documented, dict) and all(
            _same(value, getattr(actual, key)) for key, value in documented.items())
    if isinstance(actual, int | float) and isinstance(documented, str):  # a duration
        return parse_duration(documented) == actual
    if isinstance(actual, tuple):
        return list(actual) == documented
    return bool(documented == actual)


def test_the_documented_defaults_are_the_ones_in_force(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("upstreams:\n  a: {base_url: 'https://a.example'}\n"
                    "legacy: {base_url: 'https://old.example'}\nsandbox: {}\n")
    config = load_config(str(path))
    documented = _documented_defaults()
    assert set(_DOCUMENTED) <= set(documented), set(_DOCUMENTED) - set(documented)
    wrong = {key: (documented[key], _in_force(config, where))
             for key, where in _DOCUMENTED.items()
             if not _same(documented[key], _in_force(config, where))}
    assert wrong == {}
    assert config.lockout.quick_login_check == 0  # documented as "off"
    assert config.upstreams["a"].total_deadline == 13  # "connect_timeout + read_timeout (13 s)"


@pytest.mark.parametrize(("written", "moment"), [
    ("2027-03-01", "2027-03-01T00:00:00+00:00"),
    ('"2027-03-01T01:00:00+01:00"', "2027-03-01T00:00:00+00:00"),
    ('"2027-03-01T00:00:00Z"', "2027-03-01T00:00:00+00:00"),
])
def test_legacy_retired_at_is_a_moment_in_utc(tmp_path: Path, written: str, moment: str) -> None:
    import datetime

    path = tmp_path / "c.yaml"
    path.write_text(f'legacy: {{base_url: "https://legacy.example", retired_at: {written}}}\n')
    retired = load_config(str(path)).legacy_retired_at
    assert retired is not None
    assert datetime.datetime.fromtimestamp(retired, datetime.UTC).isoformat() == moment


def test_a_wrong_retired_at_is_told_once_beside_other_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('legacy: {base_url: "https://legacy.example", retired_at: soon, timout: 3s}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 2, problems
    assert any("retired_at is a date or date-time" in p for p in problems)
