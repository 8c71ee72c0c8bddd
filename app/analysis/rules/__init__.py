"""Rules of a tight image: one module per family, registered here and nowhere else."""

from __future__ import annotations

from collections.abc import Callable

from app.analysis.facts import ImageFacts
from app.analysis.rules import user
from app.models import Finding

Rule = Callable[[ImageFacts], list[Finding]]

RULES: dict[str, Rule] = {
    user.ROOT_USER: user.judge,
}
