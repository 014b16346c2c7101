"""HTTP to one upstream: pooled keep-alive connections, and every failure as an UpstreamError kind.

urllib3 directly rather than through requests: requests adds about 250 µs of CPU
per call (settings merging, hooks, cookie jars) that a login pays on each upstream
step, and the bridge uses none of it. urllib3 is what requests itself sends with.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InsecureRequestWarning,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from bridge.errors import UpstreamError

log = logging.getLogger("bridge.upstream")


@dataclass(frozen=True)
class Answer:
    """What came back, whole: status, headers (case-insensitive) and body."""

    status: int
    headers: Any
    body: bytes
    elapsed: float


class Transport:
    """Sends requests to one upstream base URL over a pool of kept-alive connections."""

    def __init__(self, name: str, base_url: str, connect_timeout: float, read_timeout: float,
                 verify_tls: bool = True, pool_size: int = 16) -> None:
        self.name = name
        self.base_url = base_url
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        tls: dict[str, Any] = (
            {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()} if verify_tls
            else {"cert_reqs": "CERT_NONE"})
        if not verify_tls:
            # Said once here, where the operator's choice takes effect, not on every call.
            log.warning("TLS certificates of this upstream are not checked (verify_tls: false)",
                        extra={"upstream": name})
            urllib3.disable_warnings(InsecureRequestWarning)
        # block=False: a burst beyond the pool opens extra connections instead of waiting.
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=pool_size, block=False,
                                         retries=False, **tls)

    def send(self, method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:
        what = f"{method} {path}"
        started = time.perf_counter()
        try:
            response = self._pool.urlopen(method, self.base_url + path, body=body,
                                          headers=headers, timeout=self._timeout,
                                          retries=False, redirect=False)
        except (ConnectTimeoutError, SSLError) as exc:
            # Refused, unresolvable, no TLS handshake, or no connection in time: the request
            # never left, which is what makes a `connect` failure safe to repeat.
            raise UpstreamError(self.name, "connect", f"cannot reach {self.base_url}") from exc
        except ReadTimeoutError as exc:
            raise UpstreamError(self.name, "timeout", f"no answer from {what} in time") from exc
        except ProtocolError as exc:
            # The connection broke after the request went out: it may have been acted on.
            raise UpstreamError(self.name, "protocol",
                                f"{what}: connection dropped before an answer") from exc
        except HTTPError as exc:
            raise UpstreamError(self.name, "protocol", f"{what}: {type(exc).__name__}") from exc
        return Answer(response.status, response.headers, response.data,
                      time.perf_counter() - started)

    def close(self) -> None:
        self._pool.clear()
