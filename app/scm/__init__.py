"""Code hosts: where fix plans become branches (local checkouts now, GitHub later)."""

from app.scm.local import LocalRepository, Outcome, ScmError
from app.scm.target import Refusal, RepoTarget, choose

__all__ = ["LocalRepository", "Outcome", "Refusal", "RepoTarget", "ScmError", "choose"]
