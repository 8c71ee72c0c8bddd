"""What the image config says, with every secret value already redacted.

The config is read once per config digest and reduced to these facts; rules judge the
facts, and the facts (not the config) are what the store caches, so an ENV password or a
token in a ``RUN`` line is never written anywhere in the clear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.analysis import secrets
from app.analysis.secrets import Secret


@dataclass(frozen=True, slots=True)
class Step:
    created_by: str  # redacted
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ConfigFacts:
    os: str
    architecture: str
    variant: str | None = None
    user: str = ""
    author: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # values redacted
    labels: dict[str, str] = field(default_factory=dict)  # values redacted
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    history: tuple[Step, ...] = ()
    diff_ids: tuple[str, ...] = ()
    env_secrets: tuple[tuple[str, Secret], ...] = ()  # (variable, secret)
    history_secrets: tuple[tuple[int, Secret], ...] = ()  # (history index, secret)

    @property
    def platform(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def layer_steps(self) -> list[Step | None]:
        """The history step that made each layer (None where history does not say)."""
        steps = [step for step in self.history if not step.empty_layer]
        if len(steps) != len(self.diff_ids):
            return [None] * len(self.diff_ids)
        return list(steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigFacts:
        return cls(
            **{
                **data,
                "env": tuple(tuple(pair) for pair in data["env"]),
                "entrypoint": tuple(data["entrypoint"]),
                "cmd": tuple(data["cmd"]),
                "history": tuple(Step(**step) for step in data["history"]),
                "diff_ids": tuple(data["diff_ids"]),
                "env_secrets": tuple((n, Secret(**s)) for n, s in data["env_secrets"]),
                "history_secrets": tuple((i, Secret(**s)) for i, s in data["history_secrets"]),
            }
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def from_config(config: dict[str, Any]) -> ConfigFacts:
    container = config.get("config") if isinstance(config.get("config"), dict) else {}
    env: list[tuple[str, str]] = []
    env_secrets: list[tuple[str, Secret]] = []
    for item in _strings(container.get("Env")):
        name, _, value = item.partition("=")
        clean, found = secrets.scrub(value, name=name)
        env.append((name, clean))
        env_secrets += [(name, secret) for secret in found]
    labels = {}
    raw_labels = container.get("Labels") if isinstance(container.get("Labels"), dict) else {}
    for key, value in raw_labels.items():
        if isinstance(value, str):
            labels[str(key)] = secrets.scrub(value)[0]
    history: list[Step] = []
    history_secrets: list[tuple[int, Secret]] = []
    raw_history = config.get("history") if isinstance(config.get("history"), list) else []
    for index, entry in enumerate(h for h in raw_history if isinstance(h, dict)):
        created_by, found = secrets.scrub(_text(entry.get("created_by")))
        history_secrets += [(index, secret) for secret in found]
        history.append(
            Step(
                created_by=created_by,
                author=_text(entry.get("author")) or None,
                comment=secrets.scrub(_text(entry.get("comment")))[0] or None,
                empty_layer=entry.get("empty_layer") is True,
            )
        )
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    return ConfigFacts(
        os=_text(config.get("os")) or "unknown",
        architecture=_text(config.get("architecture")) or "unknown",
        variant=_text(config.get("variant")) or None,
        user=_text(container.get("User")),
        author=_text(config.get("author")) or None,
        env=tuple(env),
        labels=labels,
        entrypoint=tuple(secrets.scrub(s)[0] for s in _strings(container.get("Entrypoint"))),
        cmd=tuple(secrets.scrub(s)[0] for s in _strings(container.get("Cmd"))),
        history=tuple(history),
        diff_ids=tuple(_strings(rootfs.get("diff_ids"))),
        env_secrets=tuple(env_secrets),
        history_secrets=tuple(history_secrets),
    )
