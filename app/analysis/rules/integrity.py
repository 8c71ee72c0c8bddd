"""A layer Tightship could not read completely is itself a finding: what it hides is unknown."""

from __future__ import annotations

from app.analysis.view import ImageView
from app.models import Finding, Severity

UNREADABLE_LAYER = "unreadable-layer"
IDS = (UNREADABLE_LAYER,)
inspectors = ()


def judge(view: ImageView) -> list[Finding]:
    return [
        Finding(
            UNREADABLE_LAYER,
            Severity.HIGH,
            "Layer could not be read completely",
            layer.error,
            layer=view.layer_digests[index],
        )
        for index, layer in enumerate(view.layers)
        if layer.error
    ]
