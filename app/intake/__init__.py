"""Registry webhook intake: one module per sender, registered here and nowhere else."""

from __future__ import annotations

from app.intake import distribution
from app.intake.base import Delivery, PayloadError, Sender

SENDERS: dict[str, Sender] = {
    module.name: module  # type: ignore[misc]  # a module satisfies the Sender protocol
    for module in (distribution,)
}

__all__ = ["SENDERS", "Delivery", "PayloadError", "Sender"]
