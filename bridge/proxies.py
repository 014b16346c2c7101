"""Who the caller is behind a proxy: X-Forwarded-* believed only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self._networks: list[Network] = [ipaddress.ip_network(n, strict=False) for n in networks]

    def trusts(self, address: str | None) -> bool:
        if not address or not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client(self, environ: Mapping[str, Any]) -> str | None:
        """The caller's address: the nearest X-Forwarded-For hop not of our own proxies."""
        remote = environ.get("REMOTE_ADDR")
        if not self.trusts(remote):
            return remote
        hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self.trusts(hop):
                return hop
        return remote

    def forwarded(self, environ: Mapping[str, Any], name: str) -> str | None:
        """X-Forwarded-<name> (first value), only when the direct peer is a trusted proxy."""
        if not self.trusts(environ.get("REMOTE_ADDR")):
            return None
        value = environ.get(f"HTTP_X_FORWARDED_{name.upper()}", "")
        return value.split(",")[0].strip() or None
