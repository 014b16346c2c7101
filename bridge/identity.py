"""One user, one identity: the form of a user name every per-user key and comparison uses.

`identity` is NFKC, then casefold, then strip, in that order: NFKC folds compatibility
spellings (the long s U+017F, full-width letters, ligatures) into plain ones, casefold
folds case the way Unicode means it (`ß`, `ẞ` and `SS` are one name, where `lower()` keeps
`ß`), and strip removes the whitespace either may leave at the ends. So `ruß@x`, `ru\u017f\u017f@x`
and `RUẞ@x` are one user to the lockout, the rate limits, routing, the directory, token
ownership and the command line.

`lowered` and `folded` are the forms keys were made of before: lockout keys (strip, then
`lower()`) and learned directory entries (strip, then casefold). They are read beside the
identity's keys while entries of that age may still live (docs/security.md).
"""

from __future__ import annotations

import unicodedata


def identity(username: str) -> str:
    """The user's identity: NFKC, then casefold, then strip."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def lowered(username: str) -> str:
    """The form lockout keys had before `identity`: trimmed and lower-cased."""
    return username.strip().lower()


def folded(username: str) -> str:
    """The form learned directory entries had before `identity`: trimmed and casefolded."""
    return username.strip().casefold()
