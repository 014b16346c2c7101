"""Comparing legacy and REST answers: sets, formats, case, noise, kinds, and never a secret shown."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.migrate.compare import (
    CompareRules,
    Difference,
    Side,
    compare,
    differing_paths,
    general_path,
    read_compare,
)
from bridge.yamlfile import load_yaml

PILOT = "821ae27f-027c-4f21-a2e5-1667fc9b650a"
OTHER = "4ed5c3a0-9f8e-4b7d-8c6a-5e4f3d2c1b0a"
TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
REST_TOKEN = "0f9e8d7c6b5a49382716f5e4d3c2b1a0"
ACCOUNTS = "AuthenticateUserResult.Accounts.UserAccount"
TOKEN_PATH = "AuthenticateUserResult.AuthenticationToken"

RULES = CompareRules(
    format_only={TOKEN_PATH: r"[0-9a-f]{32}"},
    sets={ACCOUNTS: "ContextIdentifier"},
    case_insensitive=frozenset({"AuthenticateUserResult.UserName"}),
)


def answer(token: str | None = TOKEN, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "Success": True,
        "AuthenticationToken": token,
        "UserName": "jdoe@example.com",
        "FirstName": "John",
        "LastName": "Doe",
        "Accounts": {"UserAccount": [
            {"ContextIdentifier": PILOT, "IsPrimary": True, "Name": "Example, Inc."},
            {"ContextIdentifier": OTHER, "IsPrimary": False, "Name": "Example Labs"},
        ]},
    }
    result.update(changes)
    return {"AuthenticateUserResult": result}


def refusal(message: str = "Invalid user name or password.") -> dict[str, Any]:
    return {"AuthenticateUserResult": {
        "Success": False,
        "Exceptions": {"UserException": [{"_value": message, "Severity": "Error"}]},
    }}


def result(data: Any) -> Side:
    return Side("result", data)


def test_equal_answers_agree() -> None:
    assert compare(result(answer()), result(answer()), CompareRules()) == []


def test_tokens_differ_without_format_only_and_are_redacted_by_name() -> None:
    differences = compare(result(answer()), result(answer(REST_TOKEN)), CompareRules())
    # The name alone makes the path secret: the values are never shown.
    assert differences == [Difference(TOKEN_PATH, "[redacted]", "[redacted]")]


def test_tokens_agree_under_format_only() -> None:
    assert compare(result(answer()), result(answer(REST_TOKEN)), RULES) == []


@pytest.mark.parametrize(("rest_token", "shown"), [
    (None, ("[redacted: present]", None)),
    ("", ("[redacted: present]", "[redacted: empty]")),
    ("not-a-token", ("[redacted: present]", "[redacted: invalid format]")),
    ("   ", ("[redacted: present]", "[redacted: empty]")),
])
def test_a_missing_or_malformed_token_differs_without_showing_it(
    rest_token: str | None, shown: tuple[str | None, str | None]
) -> None:
    differences = compare(result(answer()), result(answer(rest_token)), RULES)
    assert differences == [Difference(TOKEN_PATH, *shown)]
    assert TOKEN not in repr(differences)
    assert "not-a-token" not in repr(differences)


def test_a_token_absent_on_both_sides_agrees() -> None:
    assert compare(result(refusal()), result(refusal()), RULES) == []


def test_format_only_without_regex_only_needs_a_value() -> None:
    rules = CompareRules(format_only={TOKEN_PATH: None})
    assert compare(result(answer()), result(answer("anything at all")), rules) == []
    assert compare(result(answer()), result(answer("")), rules) == [
        Difference(TOKEN_PATH, "[redacted: present]", "[redacted: empty]")
    ]


def test_a_legacy_extra_account_is_named_by_its_key() -> None:
    rest = answer()
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"].pop()
    differences = compare(result(answer()), result(rest), RULES)
    # The item is shown by its other fields, so a reader sees which account it was.
    assert differences == [Difference(f"{ACCOUNTS}[ContextIdentifier={OTHER}]", "present", None,
                                      "IsPrimary=false; Name=Example Labs")]


def test_a_rest_extra_account_is_named_by_its_key() -> None:
    legacy = answer()
    legacy["AuthenticateUserResult"]["Accounts"]["UserAccount"].pop(0)
    differences = compare(result(legacy), result(answer()), RULES)
    assert differences == [Difference(f"{ACCOUNTS}[ContextIdentifier={PILOT}]", None, "present",
                                      "IsPrimary=true; Name=Example, Inc.")]


def test_account_order_is_ignored_in_sets_but_not_in_plain_lists() -> None:
    rest = answer()
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"].reverse()
    assert compare(result(answer()), result(rest), RULES) == []
    as_list = compare(result(answer()), result(rest), CompareRules(format_only=RULES.format_only))
    assert f"{ACCOUNTS}[0].ContextIdentifier" in {difference.path for difference in as_list}


def test_matched_accounts_compare_field_by_field() -> None:
    rest = answer()
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"][1]["Name"] = "Example Labs GmbH"
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"].reverse()
    assert compare(result(answer()), result(rest), RULES) == [
        Difference(f"{ACCOUNTS}[ContextIdentifier={OTHER}].Name", "Example Labs", "Example Labs GmbH")
    ]


def test_a_set_key_can_be_case_insensitive() -> None:
    rest = answer()
    for account in rest["AuthenticateUserResult"]["Accounts"]["UserAccount"]:
        account["ContextIdentifier"] = account["ContextIdentifier"].upper()
    assert len(compare(result(answer()), result(rest), RULES)) == 4
    rules = CompareRules(sets=RULES.sets, format_only=RULES.format_only,
                         case_insensitive=frozenset({f"{ACCOUNTS}.ContextIdentifier"}))
    assert compare(result(answer()), result(rest), rules) == []


def test_a_single_account_not_wrapped_in_a_list_still_matches() -> None:
    legacy, rest = answer(), answer()
    legacy["AuthenticateUserResult"]["Accounts"]["UserAccount"].pop()
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"] = legacy["AuthenticateUserResult"]["Accounts"][
        "UserAccount"
    ][0]
    assert compare(result(legacy), result(rest), RULES) == []


def test_plain_lists_show_missing_items_by_index() -> None:
    legacy = {"R": {"Tags": ["a", "b", "c"]}}
    rest = {"R": {"Tags": ["a", "b"]}}
    assert compare(result(legacy), result(rest), CompareRules()) == [Difference("R.Tags[2]", "c", None)]


def test_user_names_compare_case_insensitively_only_where_configured() -> None:
    rest = answer(UserName=" JDoe@Example.com ")
    assert compare(result(answer()), result(rest), RULES) == []
    assert compare(result(answer()), result(rest), CompareRules(format_only=RULES.format_only)) == [
        Difference("AuthenticateUserResult.UserName", "jdoe@example.com", "JDoe@Example.com")
    ]


@pytest.mark.parametrize(("legacy", "rest", "equal"), [
    (True, "true", True),
    (False, "False", True),
    (True, "false", False),
    (1, "1", True),
    (1, "1.0", True),
    (2.5, "2.50", True),
    (1, "2", False),
    ("007", "7", False),  # two strings: codes, not quantities
    (" John ", "John", True),
    (True, 1, False),
])
def test_scalars_compare_after_normalisation(legacy: Any, rest: Any, equal: bool) -> None:
    differences = compare(result({"R": {"V": legacy}}), result({"R": {"V": rest}}), CompareRules())
    assert (differences == []) is equal


def test_a_key_on_one_side_only_is_a_difference() -> None:
    legacy = answer(MiddleName="Q")
    assert compare(result(legacy), result(answer()), RULES) == [
        Difference("AuthenticateUserResult.MiddleName", "Q", None)
    ]


def test_none_and_empty_lists_count_as_absent() -> None:
    legacy = copy.deepcopy(refusal())
    legacy["AuthenticateUserResult"].update(Accounts={"UserAccount": []}, AuthenticationToken=None)
    assert compare(result(legacy), result(refusal()), RULES) == []


def test_long_values_are_truncated_to_80_characters() -> None:
    (difference,) = compare(result({"R": {"V": "x" * 200}}), result({"R": {"V": "y"}}), CompareRules())
    assert difference.legacy is not None
    assert len(difference.legacy) == 80
    assert difference.legacy.endswith("…")


def test_a_missing_container_is_summarised_not_dumped() -> None:
    legacy = answer()
    rest = answer()
    del rest["AuthenticateUserResult"]["Accounts"]
    assert compare(result(legacy), result(rest), RULES) == [
        Difference("AuthenticateUserResult.Accounts", "present", None)
    ]


def test_ignore_skips_a_path_and_everything_below() -> None:
    rest = answer(FirstName="Jon", LastName="Do")
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"].pop()
    rules = CompareRules(format_only=RULES.format_only,
                         ignore=frozenset({"AuthenticateUserResult.FirstName",
                                           "AuthenticateUserResult.Accounts"}))
    assert compare(result(answer()), result(rest), rules) == [
        Difference("AuthenticateUserResult.LastName", "Doe", "Do")
    ]


def test_noise_paths_are_ignored_like_ignore() -> None:
    legacy = answer(ServerTime="2026-11-22T10:00:00Z")
    rest = answer(ServerTime="2026-11-22T10:00:03Z", FirstName="Jon")
    noise = frozenset({"AuthenticateUserResult.ServerTime"})
    assert compare(result(legacy), result(rest), RULES, noise) == [
        Difference("AuthenticateUserResult.FirstName", "John", "Jon")
    ]


def test_the_same_refusal_agrees() -> None:
    assert compare(result(refusal()), result(refusal()), RULES) == []


def test_different_refusal_messages_differ_at_the_message() -> None:
    differences = compare(result(refusal()), result(refusal("User is locked out.")), RULES)
    assert differences == [Difference(
        "AuthenticateUserResult.Exceptions.UserException[0]._value",
        "Invalid user name or password.",
        "User is locked out.",
    )]


def test_refusal_against_success_shows_each_differing_field() -> None:
    differences = compare(result(refusal()), result(answer()), RULES)
    paths = {difference.path for difference in differences}
    assert "AuthenticateUserResult.Success" in paths
    assert "AuthenticateUserResult.Exceptions" in paths
    assert TOKEN_PATH in paths
    assert TOKEN not in repr(differences)


def test_fault_against_result_is_one_kind_difference() -> None:
    fault = Side("fault", {"code": "Server", "message": "The service is temporarily unavailable."})
    assert compare(result(answer()), fault, RULES) == [Difference("$kind", "result", "fault: Server")]
    assert compare(Side("error", {"reason": "timeout"}), result(answer()), RULES) == [
        Difference("$kind", "error: timeout", "result")
    ]


def test_faults_agree_on_code_and_message() -> None:
    fault = Side("fault", {"code": "Client", "message": "Bad request"})
    assert compare(fault, Side("fault", {"code": "Client", "message": "Bad request"}), RULES) == []
    assert compare(fault, Side("fault", {"code": "Server", "message": "Bad request"}), RULES) == [
        Difference("$fault.code", "Client", "Server")
    ]
    assert compare(fault, Side("fault", {"code": "Client", "message": "Other"}), RULES) == [
        Difference("$fault.message", "Bad request", "Other")
    ]


def test_errors_agree_on_the_reason() -> None:
    timeout = Side("error", {"reason": "timeout"})
    assert compare(timeout, Side("error", {"reason": "timeout"}), RULES) == []
    assert compare(timeout, Side("error", {"reason": "unavailable"}), RULES) == [
        Difference("$error.reason", "timeout", "unavailable")
    ]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown side kind 'answer'"):
        compare(Side("answer", {}), result(answer()), RULES)


@pytest.mark.parametrize("name", ["Password", "NewPassword", "ApiKey", "ClientSecret", "pass"])
def test_secret_looking_names_never_show_their_value(name: str) -> None:
    legacy = {"R": {name: "hunter2-legacy"}}
    rest = {"R": {name: "hunter2-rest"}}
    assert compare(result(legacy), result(rest), CompareRules()) == [
        Difference(f"R.{name}", "[redacted]", "[redacted]")
    ]
    one_sided = compare(result(legacy), result({"R": {"Other": 1}}), CompareRules())
    assert Difference(f"R.{name}", "[redacted]", None) in one_sided
    assert "hunter2" not in repr(one_sided)


def test_text_under_a_secret_element_is_secret() -> None:
    legacy = {"R": {"Password": {"_value": "hunter2", "Encoding": "plain"}}}
    rest = {"R": {"Password": {"_value": "hunter3", "Encoding": "plain"}}}
    assert compare(result(legacy), result(rest), CompareRules()) == [
        Difference("R.Password._value", "[redacted]", "[redacted]")
    ]


def test_configured_secret_paths_hide_everything_below() -> None:
    legacy = {"R": {"Profile": {"Phone": "555-0100"}}}
    rest = {"R": {"Profile": {"Phone": "555-0199"}}}
    rules = CompareRules(secret=frozenset({"R.Profile"}))
    assert compare(result(legacy), result(rest), rules) == [
        Difference("R.Profile.Phone", "[redacted]", "[redacted]")
    ]


def test_a_secret_set_key_is_not_written_into_the_path() -> None:
    legacy = {"R": {"Keys": [{"ApiKey": "k-legacy-123", "Label": "a"}]}}
    rest = {"R": {"Keys": [{"ApiKey": "k-rest-456", "Label": "a"}]}}
    differences = compare(result(legacy), result(rest), CompareRules(sets={"R.Keys": "ApiKey"}))
    assert len(differences) == 2
    assert "k-legacy-123" not in repr(differences)
    assert "k-rest-456" not in repr(differences)
    assert all(difference.path.startswith("R.Keys[ApiKey=#") for difference in differences)


def test_differences_are_sorted_by_path() -> None:
    legacy = {"R": {"B": 1, "A": 1, "L": list(range(11))}}
    rest = {"R": {"B": 2, "A": 2, "L": ["x"] * 11}}
    paths = [difference.path for difference in compare(result(legacy), result(rest), CompareRules())]
    assert paths == ["R.A", "R.B", *(f"R.L[{index}]" for index in range(11))]


@pytest.mark.parametrize(("path", "general"), [
    ("A.B[key=x].C[0]._value", "A.B.C._value"),
    (f"{ACCOUNTS}[ContextIdentifier={PILOT}].Name", f"{ACCOUNTS}.Name"),
    ("A.B[key=a.b].C", "A.B.C"),
    ("A.B[key=x]]y].C", "A.B.C"),
    ("A.B[0][1]", "A.B"),
    ("A.B", "A.B"),
    ("$fault.code", "$fault.code"),
])
def test_general_path(path: str, general: str) -> None:
    assert general_path(path) == general


def test_differing_paths_learns_token_and_timestamp_noise() -> None:
    first = result(answer(ServerTime="2026-11-22T10:00:00Z"))
    second = result(answer(REST_TOKEN, ServerTime="2026-11-22T10:05:00Z"))
    assert differing_paths(first, second, CompareRules()) == {TOKEN_PATH, "AuthenticateUserResult.ServerTime"}
    # A token already compared by format only is not noise to learn.
    assert differing_paths(first, second, RULES) == {"AuthenticateUserResult.ServerTime"}


def test_differing_paths_are_general() -> None:
    first = answer()
    second = answer()
    second["AuthenticateUserResult"]["Accounts"]["UserAccount"][0]["Name"] = "Renamed"
    assert differing_paths(result(first), result(second), RULES) == {f"{ACCOUNTS}.Name"}


def test_differing_paths_never_learns_a_failing_side() -> None:
    assert differing_paths(result(answer()), Side("error", {"reason": "timeout"}), RULES) == set()


def test_rules_from_yaml() -> None:
    rules = CompareRules.from_yaml({
        "format_only": {TOKEN_PATH: "[0-9a-f]{32}"},
        "sets": {ACCOUNTS: "ContextIdentifier"},
        "case_insensitive": ["AuthenticateUserResult.UserName"],
        "ignore": ["AuthenticateUserResult.ServerTime"],
        "secret": ["AuthenticateUserResult.Phone"],
    })
    assert rules == CompareRules(
        format_only={TOKEN_PATH: "[0-9a-f]{32}"},
        sets={ACCOUNTS: "ContextIdentifier"},
        case_insensitive=frozenset({"AuthenticateUserResult.UserName"}),
        ignore=frozenset({"AuthenticateUserResult.ServerTime"}),
        secret=frozenset({"AuthenticateUserResult.Phone"}),
    )
    listed = CompareRules.from_yaml({"format_only": [TOKEN_PATH]})
    assert listed.format_only == {TOKEN_PATH: None}
    assert CompareRules.from_yaml({}) == CompareRules()


@pytest.mark.parametrize(("data", "message"), [
    ({"formatonly": []}, "unknown key 'formatonly'"),
    ({"format_only": {TOKEN_PATH: "[0-9"}}, "not a valid regex"),
    ({"format_only": "x"}, "format_only must map paths"),
    ({"format_only": {TOKEN_PATH: 5}}, "regex must be a string"),
    ({"sets": [ACCOUNTS]}, "sets must be a mapping"),
    ({"sets": {ACCOUNTS: ""}}, "key field"),
    ({"ignore": "A.B"}, "ignore must be a list"),
    ({"ignore": ["A.B[0].C"]}, "write the general path 'A.B.C'"),
    ({"secret": [7]}, "7 is not a path"),
])
def test_bad_rules_from_yaml(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        CompareRules.from_yaml(data)


def test_a_bad_regex_is_refused_when_built_directly() -> None:
    with pytest.raises(ValueError, match="not a valid regex"):
        CompareRules(format_only={TOKEN_PATH: "("})


def test_every_mistake_in_compare_rules_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(
        "compare:\n"                                           # 1
        "  formatonly: []\n"                                   # 2
        "  format_only:\n"                                     # 3
        f"    {TOKEN_PATH}: '[0-9'\n"                          # 4
        "    AuthenticateUserResult.Other: 5\n"                # 5
        "  sets:\n"                                            # 6
        f"    {ACCOUNTS}: ''\n"                                # 7
        "  ignore:\n"                                          # 8
        "    - AuthenticateUserResult.ServerTime\n"            # 9
        "    - A.B[0].C\n"                                     # 10
        "  secret: [7]\n"                                      # 11
        "  case_insensitive: AuthenticateUserResult.UserName\n"  # 12
    )
    rules, problems = read_compare(load_yaml(str(path))["compare"], str(path))
    assert [str(problem) for problem in problems] == [
        f"{path}:2: unknown key 'formatonly' in compare: did you mean 'format_only'? (known: "
        "case_insensitive, format_only, ignore, secret, sets)",
        f"{path}:4: compare.format_only '{TOKEN_PATH}': '[0-9' is not a valid regex: "
        "unterminated character set at position 0",
        f"{path}:5: compare.format_only 'AuthenticateUserResult.Other': the regex must be a "
        "string or null",
        f"{path}:7: compare.sets '{ACCOUNTS}': the key field must be a field name",
        f"{path}:12: compare.case_insensitive must be a list of paths",
        f"{path}:10: compare.ignore: 'A.B[0].C' has an index; write the general path 'A.B.C'",
        f"{path}:11: compare.secret: 7 is not a path",
    ]
    assert rules.ignore == frozenset({"AuthenticateUserResult.ServerTime"})
    with pytest.raises(ConfigError) as caught:
        CompareRules.from_yaml(load_yaml(str(path))["compare"], str(path))
    assert caught.value.problems == problems


def test_a_one_sided_item_never_shows_its_secret_fields() -> None:
    legacy = answer()
    legacy["AuthenticateUserResult"]["Accounts"]["UserAccount"][1]["ApiKey"] = "marker-secret-1"
    rest = answer()
    rest["AuthenticateUserResult"]["Accounts"]["UserAccount"].pop()
    (difference,) = compare(result(legacy), result(rest), RULES)
    assert difference.item == "IsPrimary=false; Name=Example Labs"
    assert "marker-secret-1" not in repr(difference)
