"""Where an image's source lives, from the labels and annotations builders set."""

from __future__ import annotations

from app.analysis.facts import ImageFacts
from app.models import SourceHint

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"


def hint(facts: ImageFacts) -> SourceHint:
    merged = {**facts.labels, **facts.annotations}
    return SourceHint(repository=merged.get(SOURCE) or None, revision=merged.get(REVISION) or None)
