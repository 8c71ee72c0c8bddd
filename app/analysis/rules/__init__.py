"""Rules of a tight image: one module per family, registered here and nowhere else.

A rule module has ``IDS`` (the rule ids it reports), ``inspectors`` (what the layer walk
should read for it; often none), and ``judge(view)``. Inspectors run once per layer during
the single streaming pass; judges run on the collected facts, so a rule is testable
without an image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from app.analysis.layers import Inspector
from app.analysis.rules import integrity, minimal, secrets, source, user, vcs
from app.analysis.view import ImageView
from app.models import Finding


class Rule(Protocol):
    IDS: tuple[str, ...]
    inspectors: Sequence[Inspector]
    judge: Callable[[ImageView], list[Finding]]


RULES: tuple[Rule, ...] = (user, source, vcs, secrets, minimal, integrity)  # type: ignore[assignment]
RULE_IDS: tuple[str, ...] = tuple(rule_id for rule in RULES for rule_id in rule.IDS)


def inspectors() -> list[Inspector]:
    """Every inspector any rule asked for, once each."""
    unique: dict[int, Inspector] = {}
    for rule in RULES:
        for inspector in rule.inspectors:
            unique.setdefault(id(inspector), inspector)
    return list(unique.values())


def judge(view: ImageView) -> list[Finding]:
    return [finding for rule in RULES for finding in rule.judge(view)]
