"""The WSDLs a deployment serves (`services:`, or `wsdl:` + `wsdl_path:`) and how its Faults
look (`fault_style:`), read from the configuration with file:line problems."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.schema import Reader
from bridge.yamlfile import LocatedDict

# WCF's Faults (the AssureSign service's) or ASMX's (an ASP.NET .asmx service's, Nmbrs').
FAULT_STYLES = ("wcf", "asmx")


@dataclass(frozen=True)
class ServiceFile:
    """One WSDL and the path `GET <path>?WSDL` serves it at."""

    wsdl: str
    path: str


def fault_style(key: str, value: Any) -> str:
    if value not in FAULT_STYLES:
        raise ValueError(f"{key} must be one of {', '.join(FAULT_STYLES)}")
    return str(value)


def read_services(reader: Reader, data: LocatedDict,
                  relative: Callable[[str], str]) -> tuple[ServiceFile, ...]:
    """`services:` as ServiceFiles (paths relative to the configuration's folder); () when
    the configuration does not give it. Every problem goes to `reader`."""
    if "services" not in data:
        return ()
    for single in ("wsdl", "wsdl_path"):
        if single in data:
            reader.problem(data, single, f"{single} and services: describe the same thing: give "
                           "each WSDL as a services: entry {wsdl: FILE, path: /url/path}")
    items = data["services"]
    if not isinstance(items, list) or not items:
        reader.problem(data, "services", "services lists {wsdl: FILE, path: /url/path} entries")
        return ()
    found: list[ServiceFile] = []
    paths: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, LocatedDict) or set(item) != {"wsdl", "path"} or not all(
                isinstance(item[key], str) and item[key] for key in ("wsdl", "path")):
            reader.problem(items, index, "a services entry is {wsdl: FILE, path: /url/path}")
            continue
        wsdl, path = relative(item["wsdl"]), item["path"]
        if not os.path.isfile(wsdl):
            reader.problem(item, "wsdl", f"WSDL file not found: {wsdl}")
        if not path.startswith("/") or "?" in path or "#" in path:
            reader.problem(item, "path", "path is the URL path the WSDL is served at, "
                           "beginning with / and without a query")
        elif path in paths:
            reader.problem(item, "path", f"path {path} is already the path of services "
                           f"entry {paths[path] + 1}")
        paths.setdefault(path, index)
        found.append(ServiceFile(wsdl, path))
    return tuple(found)
