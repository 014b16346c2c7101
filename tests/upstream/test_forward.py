"""What a forwarded request and its answer keep of their headers (bridge/upstream/forward.py)."""

from __future__ import annotations

from bridge.upstream.forward import ANSWER_DROPPED, REQUEST_DROPPED, end_to_end


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
