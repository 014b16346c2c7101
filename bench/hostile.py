"""Hostile callers against a served bridge: what they cost, and whether other logins go on.

    python -m bench.hostile [--part xml|slow] [--clients 32] [--seconds 15] [--workers 2]
                            [--threads 4]

Starts the sandbox and `soap-bridge serve` on loopback (the shipped rule, SQLite), then:

1. sends each hostile body once (under the 1 MiB body limit, shaped to cost parse
   time) and times its answer;
2. for slow bodies (the headers, then one byte of the body every 5 s), slow headers
   (one byte every 5 s) and late ones (nothing for 5 s, then as slow): opens `--clients`
   of them and meanwhile logs a user in every 100 ms for `--seconds`, counting the
   logins answered within 10 s, and their median and slowest time.

Prints Markdown tables (the numbers in docs/security.md and docs/operations.md). Not
part of the test suite: tests/e2e/test_hostile_xml.py and test_slow_clients.py prove
the behaviour, this measures it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

from bench.sandbox import api_user
from bench.servers import Fleet, free_port
from bench.soap import HEADERS, USERS_NS, USERS_PATH, login, succeeded

REPO = Path(__file__).resolve().parent.parent
LOGIN = login("jdoe@example.com", "Password")


def _around(inner: str = "", extra: str = "") -> bytes:
    """The sample login with `extra` on its Request element and `inner` before it."""
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'{inner}<AuthenticateUser xmlns="{USERS_NS}"><Request UserName="jdoe@example.com"'
            f' Password="Password" {extra}/></AuthenticateUser>'
            f'{"</a>" * inner.count("<a>")}</soap:Body></soap:Envelope>').encode()


BODIES = {
    "75,000 attributes on one element": _around(extra=" ".join(f'a{i}=""' for i in range(75_000))),
    "5,000 namespace declarations": _around(
        extra=" ".join(f'xmlns:n{i}="urn:{i}"' for i in range(5_000))),
    "100,000 empty elements": _around(inner="<a/>" * 100_000),
    "elements nested 100,000 deep": _around(inner="<a>" * 100_000),
    "22,000 attributes, 11 on each element": _around(
        inner='<a b="" c="" d="" e="" f="" g="" h="" i="" j="" k="" l=""/>' * 2_000),
}


def _timed_post(url: str, body: bytes, timeout: float) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        answer = requests.post(url + USERS_PATH, data=body, headers=HEADERS, timeout=timeout)
        text = answer.content.decode(errors="replace")
        said = text.split("<faultstring", 1)[-1].split(">", 1)[-1].split("<", 1)[0] if (
            "faultstring" in text) else ("login succeeded" if succeeded(answer.content) else text)
        outcome = f"{answer.status_code}: {said[:70]}"
    except requests.RequestException as exc:
        outcome = f"no answer ({type(exc).__name__})"
    return time.perf_counter() - started, outcome


def _slow_client(port: int, mode: str, stop: threading.Event, answered: list[bytes]) -> None:
    head = (f"POST {USERS_PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(LOGIN)}\r\n\r\n").encode()
    first, rest = {"body": (head, LOGIN), "headers": (head[:1], head[1:] + LOGIN),
                   "late": (b"", head + LOGIN)}[mode]
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.settimeout(0.2)
            try:
                client.sendall(first)
                for byte in rest:
                    if stop.wait(5):
                        return
                    client.sendall(bytes([byte]))
                    try:
                        answered.append(client.recv(64))
                        break  # answered (408): a new connection starts over
                    except TimeoutError:
                        pass
            except OSError:
                pass


def _logins_meanwhile(url: str, port: int, mode: str, clients: int, seconds: float) -> str:
    stop, answered = threading.Event(), []
    slow = [threading.Thread(target=_slow_client, args=(port, mode, stop, answered), daemon=True)
            for _ in range(clients)]
    for thread in slow:
        thread.start()
    time.sleep(1)
    times, failed = [], 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        took, outcome = _timed_post(url, LOGIN, 10)
        times.append(took)
        failed += outcome != "200: login succeeded"
        time.sleep(0.1)
    stop.set()
    times.sort()
    timed_out = sum(a.startswith(b"HTTP/1.1 408") for a in answered)
    return (f"| {clients} slow {mode} | {len(times) - failed} of {len(times)} | "
            f"{times[len(times) // 2] * 1000:.0f} ms | {times[-1] * 1000:.0f} ms | {timed_out} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--part", choices=("xml", "slow"),
                        help="only the hostile bodies, or only the slow clients (a body still "
                        "being read by an old bridge would disturb the second part)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="soap-bridge-hostile-"))
    sandbox_port, port = free_port(), free_port()
    upstream = {"base_url": f"http://127.0.0.1:{sandbox_port}"}
    config = {"wsdl": str(REPO / "wsdl" / "DocumentNOW.wsdl"),
              "mappings": [str(REPO / "mappings" / "assuresign")],
              "store": f"sqlite:///{work / 'state.sqlite3'}",
              "upstreams": {"account": upstream, "esign": upstream},
              "secrets": {"api_username": {"env": "HOSTILE_API_USERNAME"},
                          "api_key": {"env": "HOSTILE_API_KEY"}},
              "vars": {"expired_password_url": "https://sandbox.invalid/"},
              "log_level": "warning"}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    username, key = api_user()
    env = {**os.environ, "HOSTILE_API_USERNAME": username, "HOSTILE_API_KEY": key}
    fleet = Fleet()
    try:
        fleet.start("sandbox", [sys.executable, "-m", "bridge", "sandbox", "--port",
                                str(sandbox_port)], sandbox_port, work / "sandbox.log",
                    lambda url: requests.get(url + "/_sandbox/healthz", timeout=1).ok)
        bridge = fleet.start("bridge", [
            sys.executable, "-m", "bridge", "serve", "--config", str(work / "config.yaml"),
            "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
            port, work / "bridge.log", lambda url: requests.get(url + "/healthz", timeout=1).ok,
            env=env, cwd=work)
        bridge.wait_for_workers(args.workers)
        if args.part != "slow":
            print("| body | bytes | answered in | answer |\n|---|---|---|---|")
            for name, body in BODIES.items():
                took, outcome = _timed_post(bridge.url, body, 120)
                print(f"| {name} | {len(body):,} | {took:.3f} s | {outcome} |", flush=True)
        if args.part != "xml":
            print("\n| connections held | logins answered | p50 | slowest | slow clients "
                  "answered 408 |\n|---|---|---|---|---|")
            for mode in ("body", "headers", "late"):
                print(_logins_meanwhile(bridge.url, port, mode, args.clients, args.seconds),
                      flush=True)
    finally:
        fleet.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
