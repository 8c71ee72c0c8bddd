"""A repository's own say over its fixes: ``.tightship.yaml`` at the repository root.

The file belongs to the repository's owners, so it can only narrow what Tightship does
(switch it off, ignore findings, pick the uid or the base images); it cannot make Tightship
write anything a fixer would not. A file that does not parse stops the fix with the reason,
rather than being silently ignored and overriding what the owners asked for.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from app.config import NumericUser, describe
from app.models import Finding

FILENAME = ".tightship.yaml"


class PolicyError(ValueError):
    pass


class RepoPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disable: bool = False
    user: NumericUser | None = None
    ignore: tuple[str, ...] = ()  # RULE or RULE:image-path-glob, as `tightship scan --ignore`
    bases: dict[str, str] = {}

    @field_validator("ignore")
    @classmethod
    def _known_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from app.analysis import Ignore

        for item in value:
            Ignore.parse(item)
        return value

    def keeps(self, finding: Finding) -> bool:
        from app.analysis import Ignore

        return not any(Ignore.parse(item).matches(finding) for item in self.ignore)


def parse(text: str | None) -> RepoPolicy:
    if text is None or not text.strip():
        return RepoPolicy()
    try:
        data: Any = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise PolicyError(f"{FILENAME}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{FILENAME}: the top level must be a mapping")
    try:
        return RepoPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{FILENAME}: {describe(exc)}") from None
