"""Signing and access links are credentials (whoever holds one signs or reads as the signer):
the link rules' comparison never shows them in a difference sample nor keeps them in a
recording, on the AssureSign and the OneSpan packs; only their form is compared."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.migrate.compare import CompareRules, Side, compare
from bridge.migrate.recording import without_secrets
from bridge.rules.model import compile_rule
from tests.servers import REPO

LEGACY = "https://www.assuresign.net/l/AbCdEf0123456789legacy"
REST = "https://sandbox.example/access?sessionToken=Zz9_rest-link-credential"


def _answer(operation: str, url: str) -> dict[str, Any]:
    if operation == "GetSigningLinks":
        return {"GetSigningLinksResult": {"EnvelopeId": "e-1", "SigningLinks": {
            "SigningLink": [{"SignatoryEmail": "pat@example.org", "Url": url}]}}}
    return {"GetAccessLinkResult": {"Link": {"DocumentType": "Original", "Url": url}}}


@pytest.mark.parametrize("pack", ["assuresign", "onespan", "assuresign-local"])
@pytest.mark.parametrize("operation", ["GetSigningLinks", "GetAccessLink"])
def test_links_are_never_shown_or_recorded(pack: str, operation: str) -> None:
    name = "get-signing-links" if operation == "GetSigningLinks" else "get-access-link"
    rules = CompareRules.from_yaml(
        compile_rule(str(REPO / "mappings" / pack / f"{name}.yaml")).compare)
    legacy, rest = _answer(operation, LEGACY), _answer(operation, REST)
    # Two links of the right form agree: they differ every time, and that is no difference.
    assert compare(Side("result", legacy), Side("result", rest), rules) == []
    # A side without a link differs, and the difference shows neither link.
    differences = compare(Side("result", legacy), Side("result", _answer(operation, "")), rules)
    assert differences and LEGACY not in repr(differences)
    # A recording keeps the answers as recording.py does (from their root): references only.
    kept = repr([without_secrets(answer, rules, b"k" * 32) for answer in (legacy, rest)])
    assert LEGACY not in kept and REST not in kept and "ref-" in kept
