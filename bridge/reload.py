"""The plan in force (rules, routing, comparison rules): built from the files, rebuilt when
they change."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

from bridge.check import load_rules, routing_for
from bridge.config import Config, load_config
from bridge.errors import ConfigError
from bridge.migrate.plan import Plan
from bridge.rules.model import rule_files
from bridge.soap.service import SoapService

log = logging.getLogger("bridge.reload")

# A reload changes only these; everything else (sockets, pools, secrets, state, vars …)
# is fixed at start-up, and the new rules are checked against what is really running.
RELOADABLE = ("mappings", "routing")


def build_plan(config: Config, service: SoapService) -> Plan:
    """Compile rules and comparison rules for a configuration; ConfigError lists all problems."""
    # load_rules validates the compare sections too.
    return Plan.of(load_rules(config, service), routing_for(config.routing, service))


class PlanSource:
    """The plan in force; swapped whole when the config or a rule file changes.

    A reload that fails keeps the plan in force and logs why, so a typo in a
    rule never takes the bridge down. Checked at most once a second, on demand.
    """

    def __init__(self, config: Config, service: SoapService, plan: Plan) -> None:
        self._running = config  # the effective configuration, with command-line overrides
        self._watched = config  # whose files are watched: the last one loaded successfully
        self._service = service
        self._plan = plan
        self._lock = threading.Lock()
        self._stamps = self._stamp(config)
        self._checked = time.monotonic()
        # What the file said at start-up, to tell which fixed settings a reload would change.
        self._baseline = load_config(config.source)

    def current(self) -> Plan:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            if self._stamp(self._watched) != self._stamps:
                self.reload("files changed")
        return self._plan

    def reload(self, why: str) -> bool:
        with self._lock:
            try:
                loaded = load_config(self._running.source)
                effective = dataclasses.replace(
                    self._running, **{name: getattr(loaded, name) for name in RELOADABLE})
                plan = build_plan(effective, self._service)
            except ConfigError as exc:
                # Not retried until a watched file changes again.
                self._stamps = self._stamp(self._watched)
                log.error("reload failed; the rules in force stay",
                          extra={"why": why, "problems": [str(p) for p in exc.problems]})
                return False
            ignored = sorted(
                field.name for field in dataclasses.fields(loaded)
                if field.name not in RELOADABLE and field.name != "source"
                and getattr(loaded, field.name) != getattr(self._baseline, field.name))
            if ignored:
                log.warning("a reload changes only mappings and routing; restart to apply the "
                            "other changed settings", extra={"settings": ignored})
            self._plan, self._watched = plan, effective
            self._stamps = self._stamp(effective)
            log.info("rules reloaded", extra={"why": why, "operations": sorted(plan.rules)})
            return True

    @staticmethod
    def _stamp(config: Config) -> tuple[tuple[str, float, int], ...]:
        stamps = []
        for path in [config.source, *rule_files(config.mappings)]:
            try:
                stat = os.stat(path)
                stamps.append((path, stat.st_mtime, stat.st_size))
            except OSError:
                stamps.append((path, 0.0, -1))
        return tuple(stamps)
