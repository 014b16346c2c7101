"""Request ids given to requests that bring none."""

from __future__ import annotations

import multiprocessing
import re

from bridge import logs


def _ids_in_child(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([logs.new_request_id() for _ in range(3)])


def test_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [logs.new_request_id() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_worker_gives_out_ids_of_its_own() -> None:
    before = logs.new_request_id()
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    child = context.Process(target=_ids_in_child, args=(queue,))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    ours = [logs.new_request_id() for _ in range(3)]
    # The worker drew its own prefix: the same count in both processes is not the same id.
    assert {value[:16] for value in theirs} != {before[:16]}
    assert not set(theirs) & set(ours)
