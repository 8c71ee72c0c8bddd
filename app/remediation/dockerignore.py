"""``.dockerignore`` read the way BuildKit reads it, and appended to without surprises.

BuildKit applies the patterns in order and the last one matching a path decides, with
``!`` re-including; a pattern that matches a directory excludes everything in it. So an
entry appended at the end always takes effect, also in allowlist-style files (``*`` then
``!src``) — which is why an entry is only appended when the file does not already exclude
the path, and never when the file explicitly re-includes it (its owner wants it there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

COMMENT = "# Tightship: keep version control data and secrets out of the build context"


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    negated: bool
    regex: re.Pattern[str]


def patterns(text: str | None) -> list[Pattern]:
    result = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = _clean(line[1:].strip() if negated else line)
        if body:
            result.append(Pattern(body, negated, _compile(body)))
    return result


def _clean(pattern: str) -> str:
    pattern = pattern.replace("\\", "/")
    while pattern.startswith(("./", "/")):
        pattern = pattern[1:] if pattern.startswith("/") else pattern[2:]
    return pattern.rstrip("/")


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus ``**``, as moby's patternmatcher implements them."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def excluded(rules: list[Pattern], path: str) -> bool:
    """Whether BuildKit leaves ``path`` (relative to the context) out of the build context."""
    state = False
    for rule in rules:
        if rule.regex.fullmatch(path):
            state = not rule.negated
    return state


def reincluded(rules: list[Pattern], path: str) -> bool:
    """Whether a ``!`` rule names ``path`` itself: the file's owner wants it in the context."""
    return any(rule.negated and rule.regex.fullmatch(path) for rule in rules)


def append(text: str | None, entries: list[str]) -> str:
    """The file with ``entries`` added at the end under one comment line, or created."""
    existing = text or ""
    if not entries:
        return existing
    newline = "\r\n" if "\r\n" in existing else "\n"
    if existing and not existing.endswith(("\n", "\r")):
        existing += newline
    block = newline.join([COMMENT, *entries]) + newline
    separator = newline if existing.strip() else ""
    return existing + separator + block
