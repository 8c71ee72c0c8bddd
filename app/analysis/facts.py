"""What the analysis knows about one platform image; rules judge this, never the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ImageFacts:
    platform: str
    digest: str  # the platform manifest's digest
    config: dict[str, Any]  # the image config blob, parsed
    annotations: dict[str, str] = field(default_factory=dict)  # from the manifest

    @property
    def container_config(self) -> dict[str, Any]:
        value = self.config.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def user(self) -> str:
        value = self.container_config.get("User")
        return value if isinstance(value, str) else ""

    @property
    def labels(self) -> dict[str, str]:
        value = self.container_config.get("Labels")
        if not isinstance(value, dict):
            return {}
        return {str(k): v for k, v in value.items() if isinstance(v, str)}

    @property
    def history(self) -> list[dict[str, Any]]:
        value = self.config.get("history")
        return [h for h in value if isinstance(h, dict)] if isinstance(value, list) else []
