"""The `rest_facade:` and `sso:` configuration sections: read once, with file:line problems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.schema import Kind, Reader, duration, text, whole
from bridge.yamlfile import LocatedDict

# The vendor's DocumentNOW API (FACTS §1): the root the facade answers, in the vendor's manner.
DOCUMENTNOW = "/api/documentnow/"
# [INFERRED] The versions a deprecated-login caller is met on: docs and field clients show
# v3.5 to v3.7 (FACTS §1, §4.1); the vendor itself serves v3.0 on, which operators may add.
DEFAULT_CREDENTIALS_PATHS = tuple(f"/api/documentnow/v3.{minor}/authentication/credentials"
                                  for minor in (5, 6, 7))
_PATH = re.compile(r"^/[A-Za-z0-9._~\-/*]*$")


@dataclass(frozen=True)
class FacadeSettings:
    """The deprecated REST callers' side: where they log in, what is forwarded, and where."""

    # The upstream (under upstreams:) that session-token calls are forwarded to.
    upstream: str = "esign"
    # The rule whose `rest:` section answers the credentials paths.
    operation: str = "AuthenticateUser"
    credentials_paths: tuple[str, ...] = DEFAULT_CREDENTIALS_PATHS
    # Which paths are forwarded: patterns where `*` stands for any characters (slashes too).
    forward: tuple[str, ...] = (DOCUMENTNOW + "v3.*/*",)
    # A forwarded answer larger than this is cut (it is passed on as it comes, never held).
    max_answer_bytes: int = 64 * 1024 * 1024
    # The longest a forwarded call may take, its answer streamed to the end included.
    deadline: float = 300.0


@dataclass(frozen=True)
class SsoSettings:
    """The web-UI hand-off: which upstream's authentication/sso gives the 30-second token,
    and the page it opens (an absolute URL, or a path on that upstream's host)."""

    upstream: str = "esign"
    path: str = "/api/documentnow/v3.7/authentication/sso"
    url: str | None = None
    # The rule whose tokens may ask: another rule's bearer (another pack's, another
    # vendor's) is never sent to this upstream.
    operation: str = "AuthenticateUser"


def _path(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _PATH.match(value) or "/../" in value + "/" or (
            "/./" in value + "/"):
        raise ValueError(f"{key} is a path such as /api/documentnow/v3.7/…")
    return value


def _paths(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key} lists paths")
    return tuple(_path(key, item) for item in value)


def _url(key: str, value: Any) -> str:
    given = str(value)
    if not given.startswith(("https://", "http://", "/")) or any(c.isspace() for c in given):
        raise ValueError(f"{key} is an http(s):// URL, or a path on the upstream's host")
    return given


_FACADE: dict[str, Kind] = {
    "upstream": text, "operation": text, "credentials_paths": _paths, "forward": _paths,
    "max_answer_bytes": whole(1024), "deadline": duration}
_SSO: dict[str, Kind] = {"upstream": text, "path": _path, "url": _url, "operation": text}


def read_facade(reader: Reader, data: LocatedDict
                ) -> tuple[FacadeSettings | None, SsoSettings | None]:
    """`rest_facade:` and `sso:`; each None when the configuration leaves it out."""
    facade = sso = None
    if "rest_facade" in data:
        facade = FacadeSettings(**reader.read(reader.section(data, "rest_facade"), _FACADE))
    if "sso" in data:
        sso = SsoSettings(**reader.read(reader.section(data, "sso"), _SSO))
    return facade, sso


def upstream_problems(reader: Reader, data: LocatedDict, upstreams: set[str]) -> None:
    """Each section's upstream must be one of upstreams:."""
    for section in ("rest_facade", "sso"):
        given = data.get(section)
        if isinstance(given, LocatedDict):
            name = given.get("upstream", "esign")
            if name not in upstreams:
                reader.problem(given, "upstream",
                               f"{section}.upstream {name!r} is not under upstreams: (known: "
                               f"{', '.join(sorted(upstreams)) or 'none'})")
