"""REST requests passed on to an upstream as they came, their answers streamed back unread."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bridge import logs
from bridge.upstream.rest import Endpoint, transport_for
from bridge.upstream.transport import Streamed

# RFC 9110 §7.6.1: hop-by-hop headers belong to one connection and are not passed on. Host
# and Content-Length are the new connection's own; http.client writes them.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                        "upgrade", "host", "content-length"})
# The bridge has the whole body before it sends: nothing for the upstream to wait for.
REQUEST_DROPPED = HOP_BY_HOP | {"expect"}
# The answer's framing is the bridge's server's to choose; Date and Server it writes itself,
# and X-Request-ID is the bridge's (the one it sent on).
ANSWER_DROPPED = HOP_BY_HOP - {"content-length"} | {"date", "server", "x-request-id"}


def end_to_end(headers: Iterable[tuple[str, str]], dropped: frozenset[str] = HOP_BY_HOP
               ) -> list[tuple[str, str]]:
    """`headers` without the hop-by-hop ones, nor those the Connection header names."""
    given = list(headers)
    named = {token.strip().lower() for name, value in given if name.lower() == "connection"
             for token in value.split(",")}
    return [(name, value) for name, value in given
            if name.lower() not in dropped and name.lower() not in named]


class RestForwarder:
    """Sends one request to the upstream at the same path and query, and hands back its
    answer while it is still coming: no breaker (like the legacy client), its own deadline
    and size cap for whole documents."""

    def __init__(self, endpoint: Endpoint,
                 observe: Callable[[str, str, float], None] | None = None) -> None:
        self.endpoint = endpoint
        self._transport = transport_for(endpoint)
        self._observe = observe or (lambda upstream, result, seconds: None)

    def forward(self, method: str, target: str, body: bytes,
                headers: Iterable[tuple[str, str]]) -> Streamed:
        sent = dict(end_to_end(headers, REQUEST_DROPPED))
        request_id = logs.request_id.get()
        if request_id:
            sent["X-Request-ID"] = request_id
        streamed = self._transport.stream(method, target, body if body else None, sent)
        self._observe(self.endpoint.name, f"{streamed.status // 100}xx", streamed.elapsed)
        return streamed

    @staticmethod
    def answer_headers(streamed: Streamed) -> list[tuple[str, str]]:
        """The answer's headers to pass back: end-to-end ones, Content-Length kept unless the
        upstream also sent Transfer-Encoding (RFC 9112 §6.3: then the length is not the body's,
        and passing it on would let the upstream frame the caller's next answer)."""
        given = list(streamed.headers.items())
        dropped = ANSWER_DROPPED
        if any(name.lower() == "transfer-encoding" for name, _ in given):
            dropped = ANSWER_DROPPED | {"content-length"}
        return end_to_end(given, dropped)

    def close(self) -> None:
        self._transport.close()
