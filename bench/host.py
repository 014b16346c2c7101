"""Serve one of the bench's apps under the server a row names, configured as the bridge serves itself.

    python -m bench.host {floor,spyne,spyne-bare,sandbox} --port P [--workers W] [--threads T]
                         [--server gunicorn|gunicorn-sync|granian]
                         [--seed FILE] [--upstream URL --api-user NAME]

`bridge.server.serve` is what `soap-bridge serve` runs (gunicorn gthread or granian, app
preloaded, keep-alive), so the floor and the bridge differ only in the app. `gunicorn-sync`
is gunicorn's sync worker, what a hand-written Spyne service usually runs under. The
sandbox runs here too, in one worker because its bearers live in that process's memory:
the sandbox's own server (wsgiref) closes every connection and would dominate the bench.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.rows import GRANIAN, GTHREAD, SYNC
from bridge.server import GunicornServer, serve


def build(args: argparse.Namespace) -> Any:
    # Each app imports only what it needs, so a worker's memory is its own app's.
    if args.app == "floor":
        from bench.peers.floor import app

        return app
    if args.app == "spyne-bare":
        from bench.peers.spyne_peer import make_bare_app

        return make_bare_app()
    if args.app == "spyne":
        from bench.peers.spyne_peer import make_app

        if not args.upstream or not args.api_user:
            raise SystemExit("bench.host spyne: --upstream and --api-user are required")
        return make_app(args.upstream, args.api_user, args.threads)
    from bench.sandbox import make_sandbox

    if not args.seed:
        raise SystemExit("bench.host sandbox: --seed is required")
    return make_sandbox(args.seed)


def serve_sync(app: Any, port: int, workers: int) -> None:
    GunicornServer(app, {"bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "sync",
                         "preload_app": True, "loglevel": "warning", "accesslog": None,
                         "errorlog": "-", "timeout": 60, "graceful_timeout": 20}).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.host")
    parser.add_argument("app", choices=["floor", "spyne", "spyne-bare", "sandbox"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--server", choices=[GTHREAD, SYNC, GRANIAN], default=GTHREAD)
    parser.add_argument("--seed", help="sandbox: the seed file")
    parser.add_argument("--upstream", help="spyne: the vendor's (the sandbox's) base URL")
    parser.add_argument("--api-user", help="spyne: the API user's name (its key is the Password)")
    args = parser.parse_args(argv)
    app = build(args)
    if args.server == SYNC:
        serve_sync(app, args.port, args.workers)
    else:
        serve(app, "127.0.0.1", args.port, args.workers, args.threads, "warning",
              server="granian" if args.server == GRANIAN else "gunicorn")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
