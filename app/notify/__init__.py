"""Chat notifications: one module per platform, registered here and nowhere else.

A chat endpoint that is down must never fail a scan, so ``send`` logs and returns instead
of raising; the findings are in the store either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from app.config import Settings
from app.models import Notice
from app.notify import slack

log = logging.getLogger(__name__)

FORMATS: dict[str, Callable[[Notice], dict[str, Any]]] = {
    slack.name: slack.payload,
}


def send(settings: Settings, notice: Notice, timeout: float = 10.0) -> int:
    """Post the notice to every configured channel; returns how many accepted it."""
    delivered = 0
    for index, channel in enumerate(settings.notify):
        try:
            body = FORMATS[channel.type](notice)
            response = requests.post(channel.url.get_secret_value(), json=body, timeout=timeout)
            response.raise_for_status()
        except Exception as exc:
            # Never fatal; and the exception text can hold the URL, which is a credential.
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning(
                "chat delivery failed",
                extra={
                    "channel": f"notify.{index}",
                    "type": channel.type,
                    "status": status,
                    "error": type(exc).__name__,
                },
            )
            continue
        delivered += 1
    return delivered
