"""What the REST flow answers that the vendor's REST API cannot give alone: names from the
bridge's directory (file or learned, absent otherwise) and only the accounts a user can use."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Server, post_login, start_bridge, write_config
from tests.soapxml import auth_result

MULTI_ARCHIVE = "5c1d7e2a-9b34-4f0e-8a61-3f2b9c7d4e15"  # disabled for multi@ in the seed


def _names(bridge: Server, username: str) -> tuple[str | None, str | None]:
    result = auth_result(post_login(bridge, username, "Password").content)
    assert result.get("Success") == "true"
    return result.get("FirstName"), result.get("LastName")


def test_the_sandbox_directory_file_gives_the_documented_names(bridge: Server) -> None:
    assert _names(bridge, "jdoe@example.com") == ("John", "Doe")
    assert _names(bridge, "multi@example.com") == ("Mary", "Multi")


def test_names_come_from_the_directory_file_and_follow_its_changes(sandbox: Server,
                                                                  tmp_path: Path) -> None:
    names = tmp_path / "names.yaml"
    names.write_text("users:\n  JDoe@Example.com: {firstName: Jonathan, lastName: Doe-Smith}\n")
    bridge = start_bridge(tmp_path, write_config(tmp_path, sandbox.url,
                                                 directory={"file": str(names)}), workers=1)
    try:
        assert _names(bridge, "jdoe@example.com") == ("Jonathan", "Doe-Smith")
        # A name the file does not give is left out, not sent empty.
        names.write_text("users:\n  jdoe@example.com: {firstName: Jon}\n")
        assert _names(bridge, "jdoe@example.com") == ("Jon", None)
        # Users the file does not know get no names.
        assert _names(bridge, "multi@example.com") == (None, None)
    finally:
        bridge.stop()


def test_without_a_directory_that_knows_the_user_the_names_are_absent(sandbox: Server,
                                                                      tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, directory={"sources": ["rest", "learned"]})
    bridge = start_bridge(tmp_path, config, workers=1)
    try:
        body = post_login(bridge, "jdoe@example.com", "Password").content
        result = auth_result(body)
        assert (result.get("Success"), result.get("UserName")) == ("true", "jdoe@example.com")
        assert b"FirstName" not in body and b"LastName" not in body
        assert [a.get("Name") for a in result.iter("{*}UserAccount")] == ["Example, Inc."]
    finally:
        bridge.stop()


def test_an_account_disabled_for_the_user_is_left_out(bridge: Server) -> None:
    result = auth_result(post_login(bridge, "multi@example.com", "Password").content)
    accounts = {a.get("ContextIdentifier"): (a.get("Name"), a.get("IsPrimary"))
                for a in result.iter("{*}UserAccount")}
    assert accounts == {
        "06fd91ef-dab3-4d55-8b2c-214401174fbc": ("Multi Holdings", "true"),
        "4ed5cdfd-2302-42be-ace6-72a8ec6bcbbb": ("Multi Europe", "false"),
        "821ae27f-027c-4f21-a2e5-1667fc9b650a": ("Example, Inc.", "false"),
    }
    assert MULTI_ARCHIVE not in accounts
