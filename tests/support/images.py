"""Judge synthetic images without a registry: tar layers through the real walk, then a view."""

from __future__ import annotations

import io
from typing import Any

from app.analysis import base, builder, rules
from app.analysis.config import from_config
from app.analysis.layers import walk_layer
from app.analysis.view import ImageView
from app.models import Finding
from tests.support import tars


def config(
    user: str = "",
    env: list[str] | None = None,
    history: list[dict] | None = None,
    labels: dict[str, str] | None = None,
    layers: int = 1,
    **extra: Any,
) -> dict:
    return {
        "os": "linux",
        "architecture": "amd64",
        "config": {"User": user, "Env": env or [], "Labels": labels or {}},
        "history": history
        if history is not None
        else [{"created_by": f"step {i}"} for i in range(layers)],
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i:064x}" for i in range(layers)]},
        **extra,
    }


def view(layers: list[list[tars.Item]], cfg: dict | None = None) -> ImageView:
    cfg = cfg or config(layers=len(layers))
    facts, digests = [], []
    for items in layers:
        data, digest = tars.blob(items)
        facts.append(walk_layer(io.BytesIO(data), digest, "tar+gzip", rules.inspectors()))
        digests.append(digest)
    config_facts = from_config(cfg)
    result = ImageView("linux/amd64", "sha256:" + "f" * 64, config_facts, facts, digests)
    result.builder = builder.detect(config_facts)
    result.app_layers = builder.app_layers(config_facts, result.builder, len(facts))
    return result


def findings(
    layers: list[list[tars.Item]], cfg: dict | None = None, rule: str | None = None
) -> list[Finding]:
    found = rules.judge(view(layers, cfg))
    return [f for f in found if rule is None or f.rule == rule]


def identify(layers: list[list[tars.Item]], cfg: dict | None = None):
    return base.identify(view(layers, cfg))
