"""Image analysis: read a pushed image from its registry and judge it against the rules."""

from app.analysis.analyze import AnalysisError, Target, analyze, resolve

__all__ = ["AnalysisError", "Target", "analyze", "resolve"]
