"""Structured logs: one JSON object a line, with the ``extra`` fields a call site passes.

Call sites pass identifiers (registry, image, digest, rule ids), never request headers,
URLs with credentials, or file contents, which is what keeps tokens and secrets out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str | None = None) -> None:
    # Library chatter (oras logs request URLs at info) stays out unless asked for.
    for noisy in ("oras", "urllib3", "huey", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(level or os.environ.get("TIGHTSHIP_LOG_LEVEL", "INFO").upper())
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return  # the handler is there already (an earlier call, or gunicorn's logconfig_dict)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
