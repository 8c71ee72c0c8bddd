"""Image analysis: one streaming pass per layer, rules judging the collected facts."""

from app.analysis.analyze import AnalysisError, Analyzer, Ignore, NotAnImage, Target

__all__ = ["AnalysisError", "Analyzer", "Ignore", "NotAnImage", "Target"]
