"""Run the bridge: under gunicorn (the default: several worker processes, one preloaded app,
requests read whole by each worker's event loop before a thread serves them,
bridge/intake.py), or under granian (bridge/granian_server.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from bridge.intake import IntakeWorker, ReadLimits


class GunicornServer(BaseApplication):
    """Gunicorn configured from our own options instead of its command line."""

    def __init__(self, app: Any, options: dict[str, Any],
                 ready: Callable[[str, int], None] | None = None,
                 read_limits: ReadLimits | None = None) -> None:
        self._app = app
        self._options = options
        self._ready = ready
        # Read by each IntakeWorker: gunicorn's own settings have no place for them.
        self.read_limits = read_limits or ReadLimits()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):

            def child_exit(server: Any, worker: Any) -> None:
                # A recycled worker's live files go; its counters stay summed in.
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(worker.pid)

            self.cfg.set("child_exit", child_exit)
        if self._ready is not None:
            announce = self._ready

            def when_ready(server: Any) -> None:
                host, port = server.LISTENERS[0].sock.getsockname()[:2]
                announce(host, port)

            self.cfg.set("when_ready", when_ready)

    def load(self) -> Any:
        return self._app


def serve(app: Any, host: str, port: int, workers: int, threads: int, log_level: str,
          ready: Callable[[str, int], None] | None = None,
          certfile: str | None = None, keyfile: str | None = None,
          read_limits: ReadLimits | None = None, listener: int | None = None,
          server: str = "gunicorn") -> None:
    """Block serving `app` until SIGINT/SIGTERM; in-flight requests drain first. `listener`:
    the descriptor of a socket already bound to host:port, on which gunicorn then listens."""
    if server == "granian":
        # Imported only when chosen: a gunicorn bridge's workers do not carry it.
        from bridge.granian_server import serve_granian

        serve_granian(app, host, port, workers, threads, log_level, ready, certfile, keyfile,
                      read_limits, listener)
        return
    options: dict[str, Any] = {
        "bind": f"fd://{listener}" if listener is not None
        else f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        # gthread, with slow clients kept off the threads.
        "worker_class": IntakeWorker,
        "threads": threads,
        # The app is built before forking: config errors surface once, workers start fast.
        "preload_app": True,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "loglevel": "warning" if log_level.lower() in ("info", "debug") else log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "soap-bridge",
        "limit_request_line": 8190,
        # X-Forwarded-* are judged by the bridge's own trusted_proxies, not by gunicorn.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "limit_request_fields": 100,
    }
    if certfile and keyfile:
        options.update(certfile=certfile, keyfile=keyfile)
    GunicornServer(app, options, ready, read_limits).run()
