"""The side path: comparison work on a bounded queue, off the request path, drops counted."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("bridge.migrate")

Job = Callable[[], None]


class SideCalls:
    """A fixed pool of threads behind a bounded queue.

    `submit` never blocks: when the queue is full the job is dropped and counted,
    so a slow or hung candidate can never delay the answer the caller waits for.
    Threads start lazily in the process that first submits, because gunicorn
    forks its workers after the app is built and threads do not survive a fork.
    """

    def __init__(self, workers: int, capacity: int,
                 flush_drops: Callable[[dict[str, int]], None]) -> None:
        self._workers = workers
        self._queue: queue.Queue[tuple[str, Job]] = queue.Queue(maxsize=capacity)
        self._flush_drops = flush_drops
        self._drops: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._busy = 0

    def submit(self, operation: str, job: Job) -> bool:
        self._ensure_started()
        try:
            self._queue.put_nowait((operation, job))
            return True
        except queue.Full:
            with self._lock:
                self._drops[operation] += 1
            return False

    def idle(self) -> bool:
        """Nothing queued and nothing running (for orderly shutdown and tests)."""
        with self._lock:
            return self._queue.empty() and self._busy == 0

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            for index in range(self._workers):
                threading.Thread(target=self._work, name=f"side-call-{index}", daemon=True).start()
            # Drops are counted even while every worker is stuck on a slow side call.
            threading.Thread(target=self._flush_forever, name="side-call-drops",
                             daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(1.0)
            self._flush()

    def _work(self) -> None:
        while True:
            operation, job = self._queue.get()
            with self._lock:
                self._busy += 1
            try:
                job()
            except Exception:
                # A failed comparison must never take the pool down with it.
                log.exception("side call failed", extra={"operation": operation})
            finally:
                with self._lock:
                    self._busy -= 1

    def _flush(self) -> None:
        with self._lock:
            drops, self._drops = dict(self._drops), Counter()
        if drops:
            try:
                self._flush_drops(drops)
            except Exception:
                log.exception("could not record dropped comparisons")
                with self._lock:
                    self._drops.update(drops)
