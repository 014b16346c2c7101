"""What a forwarded request and its answer keep of their headers (bridge/upstream/forward.py)."""

from __future__ import annotations

from email.message import Message

from bridge.upstream.forward import ANSWER_DROPPED, REQUEST_DROPPED, RestForwarder, end_to_end
from bridge.upstream.transport import Streamed


def test_hop_by_hop_headers_and_those_connection_names_are_dropped() -> None:
    given = [("Authorization", "bearer b"), ("Connection", "keep-alive, X-Trace"),
             ("X-Trace", "1"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"),
             ("TE", "trailers"), ("Host", "bridge.example"), ("Content-Length", "12"),
             ("Upgrade", "h2c"), ("Expect", "100-continue"),
             ("X-AS-UserContext", "u:1"), ("Content-Type", "application/json")]

    assert end_to_end(given, REQUEST_DROPPED) == [("Authorization", "bearer b"), ("X-AS-UserContext", "u:1"),
                                 ("Content-Type", "application/json")]


def test_an_answer_keeps_its_length_but_not_its_framing() -> None:
    given = [("Content-Length", "3"), ("Transfer-Encoding", "chunked"), ("Date", "x"),
             ("Server", "Microsoft-HTTPAPI/2.0"), ("Vary", "Accept"), ("X-Request-ID", "abc")]

    assert end_to_end(given, ANSWER_DROPPED) == [("Content-Length", "3"), ("Vary", "Accept")]


def _streamed(*headers: tuple[str, str]) -> Streamed:
    message = Message()
    for name, value in headers:
        message[name] = value
    return Streamed(200, message, iter([]), 0.0)


def test_a_length_beside_chunked_framing_is_not_passed_back() -> None:
    # The body http.client hands over is the chunks' (RFC 9112 §6.3): a Content-Length
    # passed on beside it would frame the caller's connection as the upstream chose.
    both = _streamed(("Content-Length", "3"), ("Transfer-Encoding", "chunked"),
                     ("Content-Type", "application/json"))
    alone = _streamed(("Content-Length", "3"), ("Content-Type", "application/json"))

    assert RestForwarder.answer_headers(both) == [("Content-Type", "application/json")]
    assert RestForwarder.answer_headers(alone) == [("Content-Length", "3"),
                                                   ("Content-Type", "application/json")]
