"""Where one warm AuthenticateUser goes: the bridge's WSGI app in-process, under cProfile.

Each function's own time is put in a part (parse, rules, store, serialise, upstream, other)
by its module: a function of a part keeps its own time there; any other function (zeep,
lxml, the template language, …) inherits the part of whoever called it, in proportion to
the time spent under each caller. So a store call made by the rules engine counts as
store, not rules, and the attribution does not depend on private function names.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bridge
from bench.soap import HEADERS, USERS_PATH, succeeded

PARTS = ("parse", "rules", "store", "serialise", "upstream", "other")
SOURCE_ROOT = Path(bridge.__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()

Func = tuple[str, int, str]


def part_of(func: Func) -> str | None:
    """The part a function of ours belongs to, by module path (None: it inherits one)."""
    filename, _line, name = func
    try:
        module = Path(filename).resolve().relative_to(SOURCE_ROOT).as_posix()
    except ValueError:
        return None
    if module.startswith("bridge/store/"):
        return "store"
    if module.startswith("bridge/upstream/"):
        return "upstream"
    if module == "bridge/soap/xmlparse.py":
        return "parse"
    if module == "bridge/soap/writer.py":
        return "serialise"
    if module == "bridge/soap/envelope.py":
        return "parse" if name.startswith("read_") else "serialise" if name.startswith("write_") else None
    if module == "bridge/soap/service.py":
        if name in ("find", "decode") or name.startswith(("read_", "decode_")):
            return "parse"
        if name in ("encode", "answer") or name.startswith(("write_", "encode_")):
            return "serialise"
        return None
    if module == "bridge/rules/engine.py" and name == "run":
        return "rules"
    return None


@dataclass(frozen=True)
class Split:
    requests: int
    parts_us: dict[str, float]  # µs per request, under the profiler
    profiled_us: float          # their sum
    plain_us: float             # µs per request without the profiler
    top: list[tuple[str, float, float]]  # function, own µs per request, calls per request


def attribute(stats: dict[Func, Any]) -> dict[str, float]:
    """Seconds of own time per part (see the module docstring)."""
    context: dict[Func, dict[str, float]] = {
        func: {part_of(func) or "other": 1.0} for func in stats
    }
    inheriting = [func for func in stats if part_of(func) is None]
    for _ in range(50):  # call chains are shorter than this; recursion settles by then
        for func in inheriting:
            callers = stats[func][4]
            weights = {caller: edge[3] or edge[0] for caller, edge in callers.items()
                       if caller in context}
            total = sum(weights.values())
            if not total:
                continue
            mix: dict[str, float] = {}
            for caller, weight in weights.items():
                for part, share in context[caller].items():
                    mix[part] = mix.get(part, 0.0) + share * weight / total
            context[func] = mix
    seconds = dict.fromkeys(PARTS, 0.0)
    for func, (_cc, _nc, own, _cum, callers) in stats.items():
        home = part_of(func)
        if home is not None or not callers:
            seconds[home or "other"] += own
            continue
        for caller, edge in callers.items():
            for inherited, share in context.get(caller, {"other": 1.0}).items():
                seconds[inherited] += edge[2] * share
    return seconds


def label(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = Path(filename).resolve()
    parts = path.parts
    if "site-packages" in parts:
        shown = "/".join(parts[len(parts) - parts[::-1].index("site-packages"):])
    elif path.is_relative_to(SOURCE_ROOT):
        shown = path.relative_to(SOURCE_ROOT).as_posix()
    elif path.is_relative_to(STDLIB):
        shown = path.relative_to(STDLIB).as_posix()
    else:
        shown = path.name
    return f"{shown}:{line} {name}"


def environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": USERS_PATH, "QUERY_STRING": "",
        "CONTENT_TYPE": HEADERS["Content-Type"], "CONTENT_LENGTH": str(len(body)),
        "HTTP_SOAPACTION": HEADERS["SOAPAction"], "HTTP_HOST": "127.0.0.1:8080",
        "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


def _run(app: Callable[..., Any], bodies: Sequence[bytes]) -> None:
    """Call the app once per body, as a WSGI server would; every answer must be a success."""
    environs = [environ(body) for body in bodies]
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    answers = [b"".join(app(env, start_response)) for env in environs]
    for status, answer in zip(statuses, answers, strict=True):
        if not status.startswith("200") or not succeeded(answer):
            raise RuntimeError(f"profile: the bridge did not log in ({status}): {answer[-300:]!r}")


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def profile_bridge(config_path: Path, state_key: str, env: dict[str, str],
                   logins: Sequence[bytes], count: int, metrics_dir: Path) -> Split:
    """Build the bridge from `config_path`, log every user in once, then profile `count` logins.

    Metrics go to files in `metrics_dir`, as under `soap-bridge serve` (multiprocess mode),
    so their cost is the server's; prometheus-client must not have been imported before."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    with _env({**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}):
        from bridge.app import BridgeApp
        from bridge.config import load_config
        from bridge.wiring import wire

        app = BridgeApp(wire(load_config(str(config_path)), state_key.encode()))
        try:
            _run(app, logins)  # warm: every user once, so caches hold what the rule allows
            chosen = [logins[i % len(logins)] for i in range(count)]
            # CPU time of this thread, not the clock: other work on a shared machine would
            # otherwise be counted in whatever function was running when it took the core.
            started = time.thread_time()
            _run(app, chosen)
            plain = time.thread_time() - started
            # The profiler keeps its cheap clock: a costlier timer would skew the shares
            # toward functions called most often.
            profiler = cProfile.Profile()
            profiler.runcall(_run, app, chosen)
        finally:
            app.wiring.store.close()
    stats: dict[Func, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per_request = 1e6 / count
    parts = {part: seconds * per_request for part, seconds in attribute(stats).items()}
    own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:10]
    return Split(
        requests=count, parts_us=parts, profiled_us=sum(parts.values()),
        plain_us=plain * per_request,
        top=[(label(func), row[2] * per_request, row[1] / count) for func, row in own],
    )
