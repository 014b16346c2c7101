"""Field names legacy SOAP services give their secrets beyond password/token/key: a PIN, a
Pwd, credentials, a session id, a cookie, a signature, a one-time code. Redacted in the
comparison samples the console shows and referenced in recordings; look-alikes are not."""

from __future__ import annotations

import pytest

from bridge.migrate.compare import CompareRules, Side, compare
from bridge.migrate.recording import without_secrets

SECRET = "s3cr3t-value-7731"


@pytest.mark.parametrize("name", ["Pwd", "OldPwd", "PIN", "Pin", "UserPin", "pin", "OTP",
                                  "sms_otp", "Credential", "Credentials", "SessionId",
                                  "session_id", "SessionID", "Cookie", "FileRetrievalCredential"])
def test_a_secret_name_is_redacted_and_referenced(name: str) -> None:
    differences = compare(Side("result", {"R": {name: SECRET}}),
                          Side("result", {"R": {name: "other-value"}}), CompareRules())
    assert [d.path for d in differences] == [f"R.{name}"]
    assert SECRET not in repr(differences) and "other-value" not in repr(differences)
    kept = without_secrets({"body": {"R": {name: SECRET}}}, CompareRules(), b"k" * 32)
    assert kept["body"]["R"][name].startswith("ref-")


@pytest.mark.parametrize("name", ["Shipping", "Spin", "Mapping", "Session", "UserName",
                                  "Domain", "Option", "SignatureType",
                                  "SendCredentialsViaEmail"])
def test_a_look_alike_is_shown(name: str) -> None:
    differences = compare(Side("result", {"R": {name: "left"}}),
                          Side("result", {"R": {name: "right"}}), CompareRules())
    assert [(d.legacy, d.rest) for d in differences] == [("left", "right")]
