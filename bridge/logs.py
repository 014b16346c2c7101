"""JSON-lines logging; values that look like credentials never reach the output."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

# Keys whose values are replaced wherever they appear in a log record's extras.
_SECRET_KEYS = re.compile(r"pass(word)?|secret|key|token|authorization|bearer", re.I)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# The id of the request being served in this thread, stamped on every line it logs.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            # Server-side only: tracebacks go to the log, never to a caller.
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # requests/urllib3 debug lines carry full URLs and headers; keep them out.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("zeep").setLevel(logging.WARNING)
