"""Run the bridge under granian (`soap-bridge serve --server granian`): Rust reads and writes
HTTP, each worker process runs the preloaded app on a few Python threads.

Cheaper per request than gunicorn (docs/performance.md#servers) but not as guarded:
granian closes a connection whose headers are late without a `408`, does not bound the
time a body may take (a client that trickles its body holds one of the worker's
threads), and hands the app an empty or cut body where chunked framing is broken,
instead of an error. gunicorn with bridge/intake.py holds all three, so it is the
default; granian is for a bridge behind a proxy that buffers whole requests.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from bridge.intake import ReadLimits

# As gunicorn's graceful_timeout: requests in flight get this long after SIGTERM.
GRACEFUL_SECONDS = 20


def serve_granian(app: Any, host: str, port: int, workers: int, threads: int, log_level: str,
                  ready: Callable[[str, int], None] | None = None,
                  certfile: str | None = None, keyfile: str | None = None,
                  read_limits: ReadLimits | None = None, listener: int | None = None) -> None:
    """Block serving `app` until SIGINT/SIGTERM; requests in flight finish first."""
    if listener is not None:
        # granian binds its own sockets (one per worker, SO_REUSEPORT): ours only proved the
        # address free (and chose the port when 0 was asked), so it goes now.
        with socket.socket(fileno=listener) as bound:
            port = bound.getsockname()[1]
    limits = read_limits or ReadLimits()
    # The app was built before the workers start, as with gunicorn's preload: the workers
    # must be forked, not spawned, to share it.
    if multiprocessing.get_start_method(allow_none=True) != "fork":
        multiprocessing.set_start_method("fork", force=True)
    level = "warning" if log_level.lower() in ("info", "debug") else log_level.lower()
    server = Server(
        "soap-bridge", address=host, port=port, interface=Interfaces.WSGI, workers=workers,
        blocking_threads=threads, http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(limits.header_timeout * 1000)),
        log_level=LogLevels(level), log_dictconfig=_LOGGING,
        ssl_cert=Path(certfile) if certfile else None,
        ssl_key=Path(keyfile) if keyfile else None,
        # granian's default is TLS 1.3 only; legacy SOAP clients (.NET Framework on older
        # Windows) may speak 1.2 at most, which gunicorn accepts too.
        ssl_protocol_min=SSLProtocols.tls12,
        workers_kill_timeout=GRACEFUL_SECONDS,
        # A worker that dies is started again, as gunicorn does (granian would stop).
        respawn_failed_workers=True,
    )
    if ready is not None:
        announce = ready
        server.on_startup(lambda: _when_listening(host, port, announce))
    server.serve(target_loader=lambda _target: app)


def _when_listening(host: str, port: int, announce: Callable[[str, int], None]) -> None:
    """Call `announce` once a worker accepts connections. granian's start-up hook runs in
    the master before the workers bind, and nothing tells the master when they have."""
    near = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection((near, port), timeout=1).close()
            except OSError:
                time.sleep(0.02)
                continue
            announce(host, port)
            return

    threading.Thread(target=watch, name="soap-bridge-ready", daemon=True).start()


# granian's own lines go through the root logger: the bridge's JSON lines on stderr.
_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"_granian": {"propagate": True}, "granian.access": {"propagate": True,
                                                                      "level": logging.WARNING}},
    "handlers": {},
    "formatters": {},
}
