"""Start the servers under test as processes of their own, time their start-up, stop them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import proc


class StartError(RuntimeError):
    """A server exited or did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    startup: float = 0.0

    @property
    def pids(self) -> list[int]:
        return proc.tree(self.process.pid)

    def wait_for_workers(self, count: int, timeout: float = 30) -> None:
        """Start-up ends at the first answer; the load starts once every worker is forked."""
        deadline = time.monotonic() + timeout
        while len(proc.workers(self.process.pid)) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise StartError(f"{self.name}: {count} workers did not start:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> float | None:
        """Seconds from SIGTERM to exit (None: it had exited already, or had to be killed)."""
        if self.process.poll() is not None:
            return None
        started = time.perf_counter()
        self.process.terminate()  # gunicorn, granian: graceful stop, workers included
        try:
            self.process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            # Its own session: the group is the master and its workers, nothing else.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return None
        return time.perf_counter() - started


class Fleet:
    """Every server started, stopped in reverse order at exit, on Ctrl-C and on failure."""

    def __init__(self) -> None:
        self.servers: list[Server] = []

    def start(self, name: str, argv: Sequence[str], port: int, log: Path,
              ready: Callable[[str], bool], env: dict[str, str] | None = None,
              cwd: Path | None = None, timeout: float = 60, scheme: str = "http") -> Server:
        """Spawn `argv`; start-up is the time until `ready(url)` first holds."""
        url = f"{scheme}://127.0.0.1:{port}"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                       env=env, cwd=cwd, start_new_session=True)
        server = Server(name, url, process, log)
        self.servers.append(server)
        deadline = started + timeout
        while True:
            if process.poll() is not None:
                raise StartError(f"{name} exited with {process.returncode}:\n{server.tail()}")
            if _safely(ready, url):
                server.startup = time.perf_counter() - started
                return server
            if time.perf_counter() > deadline:
                raise StartError(f"{name} did not answer within {timeout:.0f} s:\n{server.tail()}")
            time.sleep(0.01)

    def stop(self, server: Server) -> float | None:
        stopped = server.stop()
        if server in self.servers:
            self.servers.remove(server)
        return stopped

    def stop_all(self) -> None:
        while self.servers:
            self.stop(self.servers[-1])


def _safely(ready: Callable[[str], bool], url: str) -> bool:
    try:
        return ready(url)
    except OSError:  # requests' ConnectionError is one
        return False
