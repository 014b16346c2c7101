"""The load generator: wrk in its own process, driven by load.lua, and its JSON line read back."""

from __future__ import annotations

import json
import resource
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("load.lua")
WRK = "wrk"


class LoadError(RuntimeError):
    """wrk failed, or saw answers that make the measurement worthless."""


@dataclass(frozen=True)
class Load:
    """What to send: one method and path, common headers, and the per-request variations."""

    method: str
    path: str
    headers: Mapping[str, str]
    # (extra header line or "", body or "") a request, sent in turn.
    requests: Sequence[tuple[str, str]]
    expect: str

    def write(self, path: Path) -> Path:
        lines = [f"{self.method} {self.path}", *(f"{k}: {v}" for k, v in self.headers.items()), ""]
        for extra, body in self.requests:
            if "\n" in extra + body or "\t" in extra:
                raise ValueError("load.lua reads one request a line: no newlines, no tab in headers")
            lines.append(f"{extra}\t{body}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: Mapping[str, int]
    unexpected: int
    p50_us: int
    p90_us: int
    p99_us: int
    mean_us: float
    cpu_seconds: float  # wrk's own user + system time

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> str:
        """Empty when every answer was a 2xx carrying the expected text and no socket failed."""
        bad = {name: count for name, count in self.errors.items() if count}
        if self.unexpected:
            bad["unexpected answers"] = self.unexpected
        return ", ".join(f"{name} {count}" for name, count in bad.items())


def version() -> str:
    try:
        done = subprocess.run([WRK, "-v"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "not found"
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


def run(url: str, requests_file: Path, expect: str, connections: int, seconds: float,
        timeout: float = 10.0) -> Result:
    """One wrk run against `url`; raises LoadError if wrk fails or prints no result."""
    threads = 1 if connections == 1 else 2
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(seconds, 1):.0f}s",
               f"--timeout={timeout:.0f}s", "-s", str(SCRIPT), url, "--", str(requests_file), expect]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 30)
    except FileNotFoundError as exc:
        raise LoadError(f"{WRK} not found: install the Debian package wrk") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise LoadError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(lines[-1])
    latency = data["latency_us"]
    return Result(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, errors=data["errors"],
        unexpected=data["unexpected"], p50_us=latency["p50"], p90_us=latency["p90"],
        p99_us=latency["p99"], mean_us=latency["mean"],
        cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
