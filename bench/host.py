"""Serve one of the bench's apps under gunicorn, configured exactly as the bridge serves itself.

    python -m bench.host {floor,spyne,sandbox} --port P [--workers W] [--threads T]
                         [--seed FILE] [--upstream URL --api-user NAME]

`bridge.server.serve` is what `soap-bridge serve` runs (gthread workers, app preloaded,
keep-alive), so the floor, the Spyne peer and the bridge differ only in the app. The
sandbox runs here too, in one worker because its bearers live in that process's memory:
the sandbox's own server (wsgiref) closes every connection and would dominate the bench.
"""

from __future__ import annotations

import argparse
from typing import Any

from bridge.server import serve


def build(args: argparse.Namespace) -> Any:
    # Each app imports only what it needs, so a worker's memory is its own app's.
    if args.app == "floor":
        from bench.peers.floor import app

        return app
    if args.app == "spyne":
        from bench.peers.spyne_peer import make_app

        if not args.upstream or not args.api_user:
            raise SystemExit("bench.host spyne: --upstream and --api-user are required")
        return make_app(args.upstream, args.api_user, args.threads)
    from bench.sandbox import make_sandbox

    if not args.seed:
        raise SystemExit("bench.host sandbox: --seed is required")
    return make_sandbox(args.seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.host")
    parser.add_argument("app", choices=["floor", "spyne", "sandbox"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", help="sandbox: the seed file")
    parser.add_argument("--upstream", help="spyne: the vendor's (the sandbox's) base URL")
    parser.add_argument("--api-user", help="spyne: the API user's name (its key is the Password)")
    args = parser.parse_args(argv)
    serve(build(args), "127.0.0.1", args.port, args.workers, args.threads, "warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
