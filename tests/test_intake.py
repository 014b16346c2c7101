"""Framing: where a request ends in the bytes received so far, fed a byte or a block at a time."""

from __future__ import annotations

import pytest

from bridge.intake import MAX_HEADER_BYTES, Framing

HEAD = b"POST /x HTTP/1.1\r\nHost: bridge\r\n"
BODY = b"<a>" + b"x" * 200 + b"</a>"


def _chunked(body: bytes, size: int = 50, trailer: bytes = b"") -> bytes:
    pieces = [b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
              for i in range(0, len(body), size)]
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(pieces) + b"0\r\n" + (
        trailer or b"") + b"\r\n"


def _fed(data: bytes, step: int, limit: int = 1024) -> tuple[Framing, int]:
    """The framing after `data` in pieces of `step` bytes, and how many bytes made it done."""
    framing = Framing(limit)
    for offset in range(0, len(data), step):
        assert not (framing.done or framing.cut), offset
        framing.feed(data[offset:offset + step])
        if framing.done or framing.cut:
            return framing, offset + len(data[offset:offset + step])
    return framing, len(data)


@pytest.mark.parametrize("step", [1, 7, 4096])
@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
    _chunked(BODY),
    _chunked(BODY, trailer=b"X-Checksum: 1\r\n"),
    b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n",
    b"\r\n" + HEAD + b"Content-Length: 0\r\n\r\n",
], ids=["length", "chunked", "chunked-trailer", "no-body", "blank-line-first"])
def test_a_request_is_done_at_its_last_byte_and_not_before(request_bytes: bytes,
                                                           step: int) -> None:
    framing, used = _fed(request_bytes, step)
    assert framing.done and not framing.cut
    assert used == len(request_bytes) if step == 1 else used >= len(request_bytes)


def test_bytes_after_the_request_are_kept_for_the_next_one() -> None:
    first = HEAD + b"Content-Length: 3\r\n\r\nabc"
    framing = Framing(1024, first + b"GET / HTTP/1.1\r\n")
    assert framing.done
    assert bytes(framing.buffer).endswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Content-Length: 2000\r\n\r\n",  # over the limit: refused on its length, unread
    HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
    HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    HEAD + b"Transfer-Encoding: gzip\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
    _chunked(b"x" * 1100, size=100),  # more than the limit has come in
], ids=["too-long", "two-lengths", "length-and-chunked", "not-chunked", "bad-size",
        "no-crlf-after-chunk", "chunked-over-limit"])
def test_requests_that_will_not_be_whole_are_cut(request_bytes: bytes) -> None:
    framing = Framing(1024, request_bytes)
    assert framing.cut and not framing.done


def test_headers_over_64_kib_are_too_large() -> None:
    framing = Framing(1024, HEAD)
    framing.feed(b"X-Padding: " + b"x" * MAX_HEADER_BYTES)
    assert framing.headers_too_large and not framing.headers_done


@pytest.mark.parametrize(("fields", "expected"), [
    (b"Expect: 100-continue\r\nContent-Length: 5\r\n", True),
    (b"expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n", True),
    (b"Expect: 100-continue\r\n", False),  # nothing to send: no 100
    (b"Content-Length: 5\r\n", False),
])
def test_expect_continue_is_noticed_for_a_body_to_come(fields: bytes, expected: bool) -> None:
    framing = Framing(1024, HEAD + fields + b"\r\n")
    assert framing.headers_done and framing.expects_continue is expected
