"""The api-key AuthenticateUser rule as shipped (warm) and with every cache taken out (cold).

The cold copy is written at run time into the bench's temp folder; it is never committed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from bridge.rules.model import rule_files

REPO = Path(__file__).resolve().parent.parent
API_KEY_RULES = REPO / "mappings" / "assuresign-api-key"


def caches(rule: Any) -> list[str]:
    """Where a rule caches: `steps.<id>.cache` and `verify.cache`."""
    found = []
    if isinstance(rule, dict):
        for step in rule.get("steps") or []:
            if isinstance(step, dict) and "cache" in step:
                found.append(f"steps.{step.get('id')}.cache")
        if isinstance(rule.get("verify"), dict) and "cache" in rule["verify"]:
            found.append("verify.cache")
    return found


def shipped_caches(source: Path = API_KEY_RULES) -> list[str]:
    return [f"{Path(path).name}: {where}" for path in rule_files([str(source)])
            for where in caches(yaml.safe_load(Path(path).read_text(encoding="utf-8")))]


def write_cold(target: Path, source: Path = API_KEY_RULES) -> Path:
    """Copy every rule file of `source` to `target` without its caches; returns `target`."""
    for path in rule_files([str(source)]):
        rule = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if isinstance(rule, dict):
            for step in rule.get("steps") or []:
                if isinstance(step, dict):
                    step.pop("cache", None)
            if isinstance(rule.get("verify"), dict):
                rule["verify"].pop("cache", None)
        copy = target / os.path.relpath(path, source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(yaml.safe_dump(rule, sort_keys=False), encoding="utf-8")
    return target
