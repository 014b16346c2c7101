"""The bench's rows: which server each runs, with what state and caches, and what it measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import wrk

# soap-bridge serve's default --threads (bridge/cli.py): every server under test gets it.
THREADS = 4
SANDBOX_THREADS = 16
# The busiest worker's share above which a run measured about one worker, not the server:
# gthread keeps each kept-alive connection on the worker that accepted it, and wrk opens
# all its connections at once. Such a run is measured again, up to BALANCE_ATTEMPTS times.
LOPSIDED = 0.8
BALANCE_ATTEMPTS = 3


# The servers a row can run under: `soap-bridge serve --server` offers the first and the last;
# gunicorn's sync worker is what a hand-written Spyne service is usually run with.
GTHREAD, SYNC, GRANIAN = "gunicorn", "gunicorn-sync", "granian"
SERVER_SET_UP = {
    GTHREAD: "gunicorn gthread with requests read whole in the event loop (`bridge/server.py`, "
             "`bridge/intake.py`), app preloaded, keep-alive 5 s",
    SYNC: "gunicorn's sync worker (one request at a time per worker, no keep-alive), app "
          "preloaded",
    GRANIAN: "granian 2.8 WSGI (`bridge/granian_server.py`: Rust HTTP, the preloaded app on "
             "the worker's Python threads), keep-alive",
}


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # floor | spyne | spyne-bare | bridge | api-user | accounts
    workers: int
    what: str
    store: str | None = None  # bridge rows: "sqlite" or a Redis URL
    cold: bool = False
    server: str = GTHREAD
    tls: bool = False  # served with --certfile/--keyfile, loaded over https

    @property
    def direct(self) -> bool:
        """A row where wrk calls the sandbox itself."""
        return self.kind in ("api-user", "accounts")

    @property
    def redis(self) -> bool:
        return bool(self.store and self.store.startswith(("redis://", "rediss://")))


def plan(workers: int, store: str) -> list[Row]:
    more = workers * 2
    soap = "AuthenticateUser over SOAP 1.1, rotating through the users"
    floor = f"{soap}; reads the request, answers one fixed success: no parsing, no upstream"
    return [
        Row("floor", "floor", workers, f"{floor} (the limit of the default server)"),
        Row("floor-granian", "floor", workers, f"{floor}, under granian", server=GRANIAN),
        Row("floor-sync", "floor", workers, f"{floor}, under gunicorn's sync worker",
            server=SYNC),
        Row("spyne-bare", "spyne-bare", workers, f"{soap}; Spyne parses it and answers a fixed "
            "success: no upstream call at all (gunicorn sync, as such a service is run)",
            server=SYNC),
        Row("spyne", "spyne", workers, f"{soap}; Spyne parses it, calls apiUser then the user's "
            "accounts over one pooled keep-alive session, answers the vendor's bearer as the "
            "token (gunicorn sync: what a user would write)", server=SYNC),
        Row("bridge-cold", "bridge", workers, f"{soap}; the api-key rule without any cache: every "
            "login calls apiUser and the user's accounts, reads the names from the learned "
            "directory and answers a token (SQLite)",
            store="sqlite", cold=True),
        Row("bridge-warm", "bridge", workers, f"{soap}; the api-key rule as shipped, repeat logins "
            "of the same users: the remembered verification and accounts come from the worker's "
            "memory; the lockout standing and the learned directory's names are read from the "
            "store in one round trip (SQLite)",
            store="sqlite"),
        Row("bridge-warm-granian", "bridge", workers, "as bridge-warm, under granian",
            store="sqlite", server=GRANIAN),
        Row("bridge-warm-tls", "bridge", workers, "as bridge-warm, over TLS (`--certfile`, "
            "`--keyfile`; wrk keeps its connections, so handshakes are few)", store="sqlite",
            tls=True),
        Row("bridge-warm-granian-tls", "bridge", workers, "as bridge-warm-tls, under granian",
            store="sqlite", server=GRANIAN, tls=True),
        Row("bridge-cold-redis", "bridge", workers, "as bridge-cold, state in Redis",
            store=store, cold=True),
        Row("bridge-warm-redis", "bridge", workers, "as bridge-warm, state in Redis", store=store),
        Row(f"bridge-warm-{more}w", "bridge", more, f"as bridge-warm, {more} workers",
            store="sqlite"),
        Row("upstream-apiuser", "api-user", 1, "wrk calls the sandbox's `POST apiUser` itself "
            "(the first call of a cold login)"),
        Row("upstream-accounts", "accounts", 1, "wrk calls the sandbox's `GET users/{username}/"
            "accounts` itself with a valid bearer (the second call of a cold login)"),
    ]


@dataclass(frozen=True)
class Measure:
    """One measured wrk run against one row, and what the processes spent meanwhile."""

    connections: int
    load: wrk.Result
    server_cpu: float        # seconds: gunicorn master and workers (the sandbox on direct rows)
    upstream_cpu: float | None  # seconds: the sandbox, on rows that call it through a server
    upstream_calls: int      # apiUser + accounts + … calls the sandbox counted
    worker_cpu: tuple[float, ...]  # seconds, each worker of the server under test
    machine_busy: float      # seconds: every CPU of the machine, whoever used it

    def per_request_us(self, seconds: float | None) -> float | None:
        return None if seconds is None or not self.load.requests else \
            seconds / self.load.requests * 1e6

    @property
    def calls_per_login(self) -> float:
        return self.upstream_calls / self.load.requests if self.load.requests else 0.0

    @property
    def ours(self) -> float:
        """Seconds of CPU the server, the sandbox and wrk used together."""
        return self.server_cpu + (self.upstream_cpu or 0.0) + self.load.cpu_seconds

    @property
    def cores_busy(self) -> float:
        return self.ours / self.load.seconds if self.load.seconds else 0.0

    @property
    def other_cores(self) -> float:
        """Cores busy with processes outside the bench (other work on the machine)."""
        return max(0.0, self.machine_busy - self.ours) / self.load.seconds if self.load.seconds else 0.0

    @property
    def busiest_worker(self) -> float | None:
        """The busiest worker's share of the workers' CPU: gthread keeps a connection on the
        worker that accepted it, so one worker may serve most of the load."""
        total = sum(self.worker_cpu)
        if self.connections == 1 or len(self.worker_cpu) < 2 or not total:
            return None  # one connection is always one worker's
        return max(self.worker_cpu) / total

    @property
    def lopsided(self) -> bool:
        return (self.busiest_worker or 0.0) >= LOPSIDED


@dataclass
class Outcome:
    row: Row
    startup: float | None = None     # seconds from spawn to the first successful answer
    peak_rss_kib: int | None = None  # the largest VmHWM among the workers
    stop: float | None = None        # seconds from SIGTERM to exit, after the load
    measures: dict[int, Measure] = field(default_factory=dict)
    # Runs made at each load level, when more than one was needed to spread the connections.
    attempts: dict[int, int] = field(default_factory=dict)
    skipped: str = ""

    def at(self, connections: int) -> Measure | None:
        return self.measures.get(connections)
