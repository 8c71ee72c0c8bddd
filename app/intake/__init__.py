"""Registry webhook intake: one module per sender, registered here and nowhere else."""

from __future__ import annotations

from app.intake import acr, artifactory, distribution, dockerhub, ecr, gcp, github, harbor, quay
from app.intake.base import Delivery, PayloadError, Ping, Sender

SENDERS: dict[str, Sender] = {
    module.name: module  # type: ignore[misc]  # a module satisfies the Sender protocol
    for module in (distribution, dockerhub, harbor, github, quay, gcp, ecr, acr, artifactory)
}

__all__ = ["SENDERS", "Delivery", "PayloadError", "Ping", "Sender"]
