"""Remediation: one fixer per build system (registered in ``fixers.py``)."""

from app.remediation.base import Fixer, FixResult, SourceTree
from app.remediation.fixers import FIXERS
from app.remediation.plan import branch_for, plan

__all__ = ["FIXERS", "FixResult", "Fixer", "SourceTree", "branch_for", "plan"]
