"""A Dockerfile as BuildKit reads it, with every instruction's line span, for line edits.

Parsing is BuildKit's own parser (the ``dockerfile`` package wraps it): heredocs, the
``escape`` directive and continuation lines come out exactly as ``docker build`` sees them.
Edits replace or insert whole lines, so everything else in the file stays byte-identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile

_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?P<modifier>:?[-+][^}]*)?\}|(?P<bare>[A-Za-z_]\w*))"
)


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Instruction:
    cmd: str  # upper case: FROM, RUN, USER …
    value: tuple[str, ...]
    flags: tuple[str, ...]
    json: bool  # exec form (a JSON array)
    first: int  # 0-based index of its first line
    last: int  # 0-based index of its last line (heredocs and continuations included)
    original: str
    heredoc: bool = False  # COPY <<EOF / RUN <<EOF: its body is in ``original``

    def flag(self, name: str) -> str | None:
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None


@dataclass
class Stage:
    index: int
    base: str  # the image (or stage name) as written, variables unexpanded
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def start(self) -> Instruction:
        return self.instructions[0]

    def last(self, *cmds: str) -> Instruction | None:
        return next((i for i in reversed(self.instructions) if i.cmd in cmds), None)

    def all(self, *cmds: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd in cmds]


@dataclass
class Dockerfile:
    lines: list[str]  # with their line endings
    args: dict[str, str]  # ARG defaults declared before the first FROM
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def newline(self) -> str:
        return "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"

    def stage(self, name: str) -> Stage | None:
        """The earlier stage a FROM or ``COPY --from`` names, by name or index."""
        for stage in self.stages:
            if stage.name is not None and stage.name.lower() == name.lower():
                return stage
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        return None

    def expand(self, text: str) -> str | None:
        """``text`` with the global ARG defaults substituted; None if one has no value."""
        unresolved = False

        def value(match: re.Match[str]) -> str:
            nonlocal unresolved
            key = match["braced"] or match["bare"]
            modifier = match["modifier"] or ""
            current = self.args.get(key)
            if modifier.lstrip(":").startswith("-"):
                default = modifier.lstrip(":")[1:]
                return current if current else default
            if modifier.lstrip(":").startswith("+"):
                return modifier.lstrip(":")[1:] if current else ""
            if current is None:
                unresolved = True
                return ""
            return current

        expanded = _VARIABLE.sub(value, text)
        return None if unresolved else expanded


def parse(text: str) -> Dockerfile:
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise DockerfileError(f"not a Dockerfile BuildKit can parse: {exc}") from None
    lines = text.splitlines(keepends=True)
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for command in commands:
        instruction = Instruction(
            cmd=command.cmd.upper(),
            value=tuple(command.value),
            flags=tuple(command.flags),
            json=command.json,
            first=command.start_line - 1,
            last=command.end_line - 1,
            original=command.original,
            heredoc=bool(command.heredocs),
        )
        if instruction.cmd == "FROM":
            words = instruction.value
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0] if words else "", name))
        elif not stages:
            if instruction.cmd == "ARG":
                for word in instruction.value:
                    key, _, default = word.partition("=")
                    args[key] = default.strip("\"'")
            continue
        stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM instruction")
    return Dockerfile(lines=lines, args=args, stages=stages)


@dataclass
class LineEdits:
    """Whole-line replacements and insertions against the original line numbers."""

    replace: dict[int, list[str]] = field(default_factory=dict)  # first line → new lines
    spans: dict[int, int] = field(default_factory=dict)  # first line → last line replaced
    before: dict[int, list[str]] = field(default_factory=dict)  # line → lines inserted before

    def replace_instruction(self, instruction: Instruction, text: str) -> None:
        self.replace[instruction.first] = [text]
        self.spans[instruction.first] = instruction.last

    def insert_before(self, line: int, text: str) -> None:
        self.before.setdefault(line, []).append(text)

    def apply(self, doc: Dockerfile) -> str:
        newline = doc.newline
        out: list[str] = []
        lines = list(doc.lines)
        if lines and not lines[-1].endswith(("\n", "\r")) and len(lines) in self.before:
            lines[-1] += newline
        skip_to = -1
        for number in range(len(lines) + 1):
            out.extend(text + newline for text in self.before.get(number, []))
            if number == len(lines) or number <= skip_to:
                continue
            if number in self.replace:
                out.extend(text + newline for text in self.replace[number])
                skip_to = self.spans[number]
                continue
            out.append(lines[number])
        result = "".join(out)
        if doc.lines and not doc.lines[-1].endswith(("\n", "\r")):
            result = result.removesuffix(newline)  # the file had no final newline: keep it so
        return result
