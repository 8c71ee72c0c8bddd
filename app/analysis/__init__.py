"""Image analysis: one streaming pass per layer, rules judging the collected facts."""

from app.analysis.analyze import AnalysisError, Analyzer, Ignore, Target

__all__ = ["AnalysisError", "Analyzer", "Ignore", "Target"]
