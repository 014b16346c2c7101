"""Bad input to the migration commands (record, replay, demo-traffic) as an operator types it:
one line naming what is wrong, exit 2, never a traceback; and a recording file edited by hand
or cut short refused at its line before anything is replayed or exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.migrate.recording import FORMAT, read_file
from bridge.sandbox import SandboxServer
from tests.servers import REPO, write_config

HEADER = json.dumps({"format": FORMAT, "entries": 1})
GOOD = {"operation": "AuthenticateUser", "ts": 1.0,
        "request": {"body": {"Request": {"UserName": "a@x.org", "Password": "ref-" + "0" * 24}},
                    "header": {}},
        "legacy": {"kind": "fault", "ms": 2.0, "data": {"code": "Client", "message": "no"}}}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, "http://127.0.0.1:9", legacy={"base_url": "http://127.0.0.1:9"},
                        routing={"operations": {"AuthenticateUser": {"mode": "shadow"}}})


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str], command: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"soap-bridge {command}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Errno" not in err
    return err


@pytest.mark.parametrize("entry", [
    {**GOOD, "request": "x"},
    {**GOOD, "legacy": {}},
    {**GOOD, "legacy": {"kind": "result"}},
    {**GOOD, "legacy": {"kind": "nonsense", "data": {}}},
    {**GOOD, "legacy": {"kind": "result", "data": 5}},
    {**GOOD, "operation": ["AuthenticateUser"]},
    {**GOOD, "ts": "yesterday"},
], ids=["request-not-a-map", "legacy-empty", "no-data", "unknown-kind", "data-not-a-map",
        "operation-not-a-name", "ts-not-a-number"])
def test_a_corrupt_recording_is_refused_at_its_line(
        entry: dict[str, object], config: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "edited.jsonl"
    recording.write_text(f"{HEADER}\n{json.dumps(GOOD)}\n{json.dumps(entry)}\n")
    with pytest.raises(ValueError, match=r"edited\.jsonl:3: not a recorded exchange"):
        read_file(str(recording))
    for extra in ([], ["--export-tests", str(tmp_path / "suite")]):
        err = _one_line(capsys, ["replay", str(recording), "--config", str(config), *extra],
                        "replay")
        assert "edited.jsonl:3" in err
    assert not (tmp_path / "suite").exists()


def test_the_well_formed_line_is_read(tmp_path: Path) -> None:
    recording = tmp_path / "good.jsonl"
    recording.write_text(f"{HEADER}\n{json.dumps(GOOD)}\n")
    assert read_file(str(recording)) == [GOOD]


def test_replay_of_what_cannot_be_read_names_it(config: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line(capsys, ["replay", str(tmp_path / "nope.jsonl"), "--config", str(config)],
                    "replay")
    assert f"cannot read {tmp_path / 'nope.jsonl'}: No such file or directory" in err
    err = _one_line(capsys, ["replay", str(tmp_path), "--config", str(config)], "replay")
    assert f"cannot read {tmp_path}: Is a directory" in err
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    _one_line(capsys, ["replay", str(binary), "--config", str(config)], "replay")


@pytest.mark.parametrize("rate", ["0", "-5", "nan", "inf"])
def test_replay_refuses_a_rate_that_is_no_rate(rate: str, config: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "good.jsonl"
    recording.write_text(f"{HEADER}\n{json.dumps(GOOD)}\n")
    err = _one_line(capsys, ["replay", str(recording), "--rate", rate, "--config", str(config)],
                    "replay")
    assert "--rate" in err


@pytest.mark.parametrize(("option", "told"), [
    (["--rate", "0"], "--rate 0: logins a second, more than 0 and at most 100"),
    (["--rate", "nan"], "--rate nan"),
    (["--rate", "500"], "at most 100"),
    (["--duration", "2h"], "--duration 2h: more than 0, at most 1h"),
    (["--duration", "0s"], "--duration 0s"),
    (["--duration", "soon"], "'soon' is not a duration"),
])
def test_demo_traffic_says_which_option_is_wrong(option: list[str], told: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line(capsys, ["demo-traffic", "--config", str(REPO / "examples" / "console.yaml"),
                             *option], "demo-traffic")
    assert told in err


@pytest.mark.parametrize(("option", "told"), [
    (["--operations", "AuthenticateUser,Nope"],
     "no rule for Nope; operations with a rule: AuthenticateUser"),
    (["--max-entries", "0"], "--max-entries is a number of exchanges, more than 0"),
    (["--max-entries", "-3"], "--max-entries"),
    (["--for", "0s"], "--for and --max-age are durations of more than 0"),
    (["--max-age", "0s"], "--for and --max-age"),
])
def test_record_start_refuses_what_would_record_nothing(
        option: list[str], told: str, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line(capsys, ["record", "start", "--config", str(config), *option], "record")
    assert told in err
    assert main(["record", "status", "--config", str(config)]) == 0
    assert "Not recording" in capsys.readouterr().out


def _console_config(tmp_path: Path, **upstreams: str) -> Path:
    """examples/console.yaml with absolute paths, some upstreams moved elsewhere."""
    import yaml

    examples = REPO / "examples"
    data = yaml.safe_load((examples / "console.yaml").read_text())
    data["wsdl"] = str((examples / data["wsdl"]).resolve())
    data["mappings"] = [str((examples / path).resolve()) for path in data["mappings"]]
    data["sandbox"]["seed"] = str(examples / data["sandbox"]["seed"])
    data["store"] = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    for name, url in upstreams.items():
        data["upstreams"][name]["base_url"] = url
    path = tmp_path / "console.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_demo_configuration_with_a_real_upstream_is_no_sandbox_for_replay(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data-changing operations replay without --force only where every upstream is the
    in-process sandbox."""
    from bridge.migration import replayer_for

    monkeypatch.setenv("SOAP_BRIDGE_OPERATOR_KEY", "k" * 40)
    for upstreams, sandbox in (({}, True), ({"esign": "https://staging.invalid"}, False)):
        replayer, close = replayer_for(str(_console_config(tmp_path, **upstreams)))
        try:
            assert replayer._sandbox is sandbox, upstreams
        finally:
            close()


def test_a_replay_that_replays_nothing_says_why_and_fails(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No --secrets for a recording of logins: every exchange skipped is not an empty report
    that passes in CI."""
    monkeypatch.setenv("TEST_API_USERNAME", "api-user")
    monkeypatch.setenv("TEST_API_KEY", "api-key-not-used")
    recording = tmp_path / "logins.jsonl"
    recording.write_text(f"{HEADER}\n{json.dumps(GOOD)}\n{json.dumps(GOOD)}\n")
    err = _one_line(capsys, ["replay", str(recording), "--config", str(config)], "replay")
    assert "nothing replayed of 2 recorded exchanges (skipped: 2 no secret for the user" in err


@pytest.mark.parametrize("url", ["not-a-url", "ftp://127.0.0.1:8080", "http://"])
def test_demo_traffic_refuses_a_url_that_is_none(url: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line(capsys, ["demo-traffic", "--config", str(REPO / "examples" / "console.yaml"),
                             "--duration", "1s", "--url", url], "demo-traffic")
    assert f"--url {url.rstrip('/')}: give the bridge's http(s)://host[:port]" in err


def test_demo_traffic_at_something_that_is_not_the_bridge_fails(
        sandbox_thread: SandboxServer, capsys: pytest.CaptureFixture[str]) -> None:
    """Every login answered 404 (not the bridge, or not its path): no 'watch them' line."""
    url = f"{sandbox_thread.url}/not/the/bridge"
    assert main(["demo-traffic", "--config", str(REPO / "examples" / "console.yaml"),
                 "--duration", "1s", "--rate", "2", "--url", url]) == 2
    captured = capsys.readouterr()
    assert "Watch them" not in captured.out
    assert captured.err.startswith("soap-bridge demo-traffic: none of 2 logins was answered "
                                   "with HTTP 200 (HTTP 404: 2)")
