"""A careful text-level editor for Gradle build scripts (Groovy DSL and Kotlin DSL).

Gradle scripts are programs, so nothing short of Gradle can evaluate them; but the settings a
fixer changes (``jib { container { user = '…' } }``, ``bootBuildImage { builder = … }``) are
nearly always written as a string literal in a block or a dotted assignment. This module
finds those by structure, not by regex over raw text: it first masks comments and string
contents (including ``${…}`` interpolation), so braces inside them cannot confuse the brace
matcher, then matches blocks and statements on the masked text and splices into the
original. Every byte it does not mean to change stays as it was (newlines, tabs, comments).
Where the current value is anything but a plain string literal, it refuses with a reason
instead of guessing, because a wrong edit in a build file is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

# Blocks that configure the same extension on other projects, or conditionally: a setting
# inside them still reaches the extension, so they are looked through when matching a path.
PROJECT_SCOPES = frozenset(
    {"subprojects", "allprojects", "configure", "project", "afterEvaluate", "project.afterEvaluate"}
)
CONDITIONALS = frozenset({"if", "else"})
TRANSPARENT = PROJECT_SCOPES | CONDITIONALS
# Calls whose block configures the element their first argument names:
# ``tasks.named("bootBuildImage") {`` configures what ``tasks.bootBuildImage {`` does.
LOOKUPS = frozenset({"named", "getByName"})

_IDENT = r"[A-Za-z_]\w*"
_CHAIN = re.compile(rf"{_IDENT}(?:[ \t]*\.[ \t]*{_IDENT})*")
_ASSIGN = re.compile(r"[ \t]*=(?!=)")
_CALL = re.compile(r"[ \t]*\(")
_COMMAND = re.compile(r"[ \t]+(?=['\"])")  # Groovy ``user 'x'``: a call without parentheses
_PLUGIN_PATTERNS = (
    # ``id 'x'`` / ``id("x")`` inside ``plugins {}``
    re.compile(r"\bid\s*\(?\s*(?P<q>['\"])(?P<id>[\w.-]+)(?P=q)[ \t]*\)?(?P<rest>[^\n;]*)"),
    # ``apply plugin: 'x'`` (Groovy) / ``apply(plugin = "x")`` (Kotlin)
    re.compile(r"\bapply\s*\(?\s*plugin\s*[:=]\s*(?P<q>['\"])(?P<id>[\w.-]+)(?P=q)"),
    # ``plugins.apply('x')`` / ``pluginManager.apply("x")``
    re.compile(
        r"\b(?:plugins|pluginManager)\s*\.\s*apply\s*\(\s*(?P<q>['\"])(?P<id>[\w.-]+)(?P=q)"
    ),
    # ``alias(libs.plugins.jib)``: a version-catalog entry, resolved by the caller
    re.compile(r"\balias\s*\(\s*(?P<alias>[\w.]+)\s*\)(?P<rest>[^\n;]*)"),
)
_APPLY_FALSE = re.compile(r"\bapply\s*\(?\s*false\b")


class ScriptError(ValueError):
    """The script cannot be read safely: an unterminated string or comment, unbalanced braces."""


@dataclass(frozen=True, slots=True)
class Edit:
    """A script edit's outcome: the new text, or why the script was left unchanged."""

    text: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Literal:
    """A string literal: offsets include the quotes; interpolated ones are not plain values."""

    start: int
    end: int
    quote: str  # ', ", ''' or """
    interpolated: bool

    @property
    def content(self) -> tuple[int, int]:
        return self.start + len(self.quote), self.end - len(self.quote)


@dataclass(frozen=True, slots=True)
class Block:
    """``name(…) { … }``: ``scope`` names the enclosing blocks, outermost first."""

    name: str  # "jib", "tasks.named", "" for an anonymous closure or lambda
    open: int  # offset of "{"
    close: int  # offset of the matching "}"
    scope: tuple[str, ...]
    arguments: tuple[int, int] | None = None  # offsets inside the call's "(…)", if any


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement that starts with a dotted name: an assignment, a call or a setter call."""

    chain: tuple[str, ...]  # ("jib", "container", "user") for ``jib.container.user = …``
    form: str  # "=", "set" for ``x.set(…)``, "call" for ``x(…)`` or Groovy ``x '…'``
    start: int
    end: int  # end of the statement, before its newline
    value: tuple[int, int]  # the value's expression, stripped
    scope: tuple[Block, ...]

    @property
    def target(self) -> tuple[str, ...]:
        return self.chain[:-1] if self.form == "set" else self.chain


@dataclass(frozen=True, slots=True)
class AppliedPlugin:
    """A plugin id (or ``alias:libs.plugins.x`` for a version-catalog alias) and where."""

    id: str
    scope: tuple[str, ...]


class Script:
    """One parsed script: the masked text, its string literals, blocks and statements."""

    def __init__(self, text: str, kotlin: bool) -> None:
        self.text = text
        self.kotlin = kotlin
        self.masked, literals = _mask(text, kotlin)
        self.literals = {lit.start: lit for lit in literals}
        self.blocks = _blocks(self.masked)
        self._paren_depth = _paren_depths(self.masked)

    @cached_property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    def enclosing(self, pos: int) -> tuple[Block, ...]:
        """The blocks around an offset, outermost first."""
        return tuple(b for b in self.blocks if b.open < pos <= b.close)

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        found = []
        for match in re.finditer(r"(?:^|(?<=[\n;{}]))[ \t]*", self.masked):
            start = match.end()
            chain = _CHAIN.match(self.masked, start)
            if chain is None:
                continue
            scope = self.enclosing(start)
            inner = scope[-1].open + 1 if scope else 0
            if self._paren_depth[start] != self._paren_depth[inner]:
                continue  # a named argument on its own line, not a statement
            if (statement := self._statement(chain, scope)) is not None:
                found.append(statement)
        return tuple(found)

    def _statement(self, chain: re.Match[str], scope: tuple[Block, ...]) -> Statement | None:
        names = tuple(part.strip() for part in chain[0].split("."))
        after = chain.end()
        if (op := _ASSIGN.match(self.masked, after)) is not None:
            end = _statement_end(self.masked, op.end())
            return Statement(names, "=", chain.start(), end, self._strip(op.end(), end), scope)
        if (op := _CALL.match(self.masked, after)) is not None:
            close = _matching(self.masked, op.end() - 1, "(", ")")
            if close is None:
                return None
            end = _statement_end(self.masked, close + 1)
            form = "set" if names[-1] == "set" and len(names) > 1 else "call"
            value = self._strip(op.end(), close)
            return Statement(names, form, chain.start(), end, value, scope)
        if not self.kotlin and (op := _COMMAND.match(self.masked, after)) is not None:
            end = _statement_end(self.masked, op.end())
            return Statement(names, "call", chain.start(), end, self._strip(op.end(), end), scope)
        return None

    def _strip(self, start: int, end: int) -> tuple[int, int]:
        segment = self.masked[start:end]
        left = len(segment) - len(segment.lstrip())
        return start + left, start + len(segment.rstrip())

    def literal(self, statement: Statement) -> Literal | None:
        """The statement's value if it is exactly one plain (non-interpolated) string literal."""
        start, end = statement.value
        lit = self.literals.get(start)
        if lit is None or lit.end != end or lit.interpolated:
            return None
        return lit

    def group(self, block: Block) -> tuple[str, ...]:
        """The names a block configures: ``tasks.named<T>("x", …) {`` configures ``tasks.x``."""
        names = _split(block.name)
        if names[-1:] and names[-1] in LOOKUPS and block.arguments is not None:
            start, end = self._strip(*block.arguments)
            lit = self.literals.get(start)
            if lit is not None and not lit.interpolated:
                rest = self.masked[lit.end : end].strip()
                if not rest or rest.startswith(","):
                    return (*names[:-1], self.string(lit))
        return names

    def value_text(self, statement: Statement) -> str:
        start, end = statement.value
        return self.text[start:end]

    def string(self, lit: Literal) -> str:
        start, end = lit.content
        return self.text[start:end]

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def assignments(self, path: Sequence[str], within: Sequence[str] = ()) -> list[Statement]:
        """Every statement that sets ``path`` (``a.b.c = …``, ``c.set(…)``, Groovy ``c '…'``)."""
        return [
            s
            for s in self.statements
            if s.form in ("=", "set") or (s.form == "call" and not self.kotlin)
            if _reaches([*map(self.group, s.scope), s.target], path, within)
        ]

    def blocks_at(self, path: Sequence[str], within: Sequence[str] = ()) -> list[Block]:
        """Blocks that configure ``path`` (``jib { container {`` or ``jib.container {``)."""
        return [
            b
            for b in self.blocks
            if _reaches([*map(self.group, self.enclosing(b.open)), self.group(b)], path, within)
        ]

    def dotted(self, head: str, within: Sequence[str] = ()) -> list[Statement]:
        """Unconditional statements that start with ``head.``, such as ``jib.to.image = …``."""
        return [
            s
            for s in self.statements
            if len(s.chain) > 1 and s.chain[0] == head
            if all(b.name in PROJECT_SCOPES for b in s.scope)
            if not within or any(b.name in within for b in s.scope)
        ]

    def is_code(self, pos: int) -> bool:
        return self.masked[pos] == self.text[pos] and not self._in_literal(pos)

    def _in_literal(self, pos: int) -> bool:
        return any(lit.start <= pos < lit.end for lit in self.literals.values())

    def scope_names(self, pos: int) -> tuple[str, ...]:
        return tuple(b.name for b in self.enclosing(pos))

    def plugins(self) -> list[AppliedPlugin]:
        """Plugins the script applies (``apply false`` ones excluded), with their scope."""
        found = []
        for pattern in _PLUGIN_PATTERNS:
            for match in pattern.finditer(self.text):
                if not self.is_code(match.start()):
                    continue
                scope = self.scope_names(match.start())
                groups = match.groupdict()
                if _APPLY_FALSE.search(groups.get("rest") or ""):
                    continue
                if groups.get("alias"):
                    if scope[-1:] == ("plugins",):
                        found.append(AppliedPlugin(f"alias:{match['alias']}", scope))
                elif pattern is not _PLUGIN_PATTERNS[0] or scope[-1:] == ("plugins",):
                    found.append(AppliedPlugin(match["id"], scope))
        return found


def parse(text: str, kotlin: bool) -> Script:
    """Parse a script; raises ScriptError when it cannot be read safely."""
    return Script(text, kotlin)


def set_value(
    text: str,
    kotlin: bool,
    path: Sequence[str],
    value: str,
    within: Sequence[str] = (),
    *,
    setter: bool = False,
) -> Edit:
    """Make the effective value of ``path`` (e.g. ``['jib', 'container', 'user']``) ``value``.

    Existing string-literal assignments get the new content in their own quote style; a value
    that is not a plain literal is refused. Missing assignments are added in the innermost
    existing block, else after the last dotted ``jib.…`` line, else as a new block at the end.
    ``within`` limits the edit to blocks such as ``subprojects {}`` of a root script.
    ``setter`` writes a missing setting as ``name.set(…)``, for a Gradle ``Property`` in Kotlin.
    """
    if len(path) < 2:
        raise ValueError("path needs a block and a name")
    try:
        script = parse(text, kotlin)
    except ScriptError as exc:
        return Edit(None, f"cannot read the script safely: {exc}")
    dotted = ".".join(path)
    existing = script.assignments(path, within)
    if existing:
        splices = []
        for statement in existing:
            lit = script.literal(statement)
            if lit is None:
                return Edit(
                    None,
                    f"line {script.line(statement.start)} sets {dotted} from "
                    f"`{_snippet(script.value_text(statement))}`, not a plain string; "
                    "change that value by hand",
                )
            if script.string(lit) != value:
                start, end = lit.content
                splices.append((start, end, _escape(value, lit.quote)))
        return Edit(_splice(text, splices))
    for depth in range(len(path) - 1, 0, -1):
        blocks = script.blocks_at(path[:depth], within)
        if blocks:
            return Edit(_insert_in_block(script, blocks[-1], path[depth:], value, setter))
    anchors = script.dotted(path[0], within)
    if anchors:
        return Edit(_insert_after(script, anchors[-1], path, value, setter))
    if within:
        return Edit(None, f"no {path[0]} configuration inside {' or '.join(within)} blocks")
    return Edit(_append_block(script, path, value, setter))


def _split(name: str) -> tuple[str, ...]:
    return tuple(part for part in name.split(".") if part)


def _reaches(groups: list[tuple[str, ...]], path: Sequence[str], within: Sequence[str]) -> bool:
    """Do the trailing groups spell ``path``, behind only transparent blocks?"""
    wanted = tuple(path)
    for k in range(len(groups)):
        if tuple(part for group in groups[k:] for part in group) != wanted:
            continue
        outer = [".".join(g) for g in groups[:k]]
        if all(name in TRANSPARENT for name in outer) and (
            not within or any(name in within for name in outer)
        ):
            return True
    return False


def _escape(value: str, quote: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(quote[0], "\\" + quote[0])
    return escaped.replace("$", "\\$") if quote[0] == '"' else escaped


def _assignment(script: Script, name: str, value: str, setter: bool) -> str:
    quote = '"' if script.kotlin else "'"
    literal = f"{quote}{_escape(value, quote)}{quote}"
    return f"{name}.set({literal})" if setter else f"{name} = {literal}"


def _splice(text: str, splices: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(splices, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    """Offset of the line's newline sequence (or the end of the text)."""
    end = text.find("\n", pos)
    if end < 0:
        return len(text)
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def _indent_of(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    line = text[start:]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_unit(script: Script, block_indent: str, body_indent: str | None) -> str:
    """One level of indentation: the block's own step, else tabs or the file's space step.

    Steps under 2 spaces are ignored: they are `` * `` lines of doc comments, not nesting.
    """
    step = body_indent.removeprefix(block_indent) if body_indent else ""
    if body_indent and body_indent.startswith(block_indent) and step:
        return step
    if "\t" in block_indent or re.search(r"^\t", script.text, re.M):
        return "\t"
    widths = [
        len(line) - len(line.lstrip(" "))
        for line in script.text.splitlines()
        if line.strip() and len(line) - len(line.lstrip(" ")) >= 2
    ]
    return " " * min(widths) if widths else "    "


def _nested_lines(
    script: Script, names: Sequence[str], value: str, unit: str, setter: bool
) -> list[str]:
    """``names`` as nested blocks around one assignment, one line each, without indentation."""
    *blocks, leaf = names
    lines = [unit * depth + f"{name} {{" for depth, name in enumerate(blocks)]
    lines.append(unit * len(blocks) + _assignment(script, leaf, value, setter))
    lines += [unit * depth + "}" for depth in reversed(range(len(blocks)))]
    return lines


def _insert_in_block(
    script: Script, block: Block, names: Sequence[str], value: str, setter: bool
) -> str:
    text, nl = script.text, script.newline
    block_indent = _indent_of(text, block.open)
    body_indent = _body_indent(script, block)
    unit = _indent_unit(script, block_indent, body_indent)
    close_line = _line_start(text, block.close)
    if text[close_line : block.close].strip(" \t") == "" and close_line > block.open:
        body_indent = body_indent or block_indent + unit
        nested = _nested_lines(script, names, value, unit, setter)
        lines = [body_indent + line for line in nested]
        return text[:close_line] + "".join(line + nl for line in lines) + text[close_line:]
    # The block closes on a line with code: add the setting on that line.
    inline = " ".join(_nested_lines(script, names, value, "", setter))
    body = script.masked[block.open + 1 : block.close]
    before = text[block.open + 1 : block.close].rstrip(" \t")
    at = block.open + 1 + len(before)
    gap = "" if at < block.close else " "
    sep = "; " if body.strip() else " "
    return text[:at] + sep + inline + gap + text[at:]


def _body_indent(script: Script, block: Block) -> str | None:
    """The indentation of the block's first line of content, if it has one of its own."""
    pos = script.text.find("\n", block.open)
    while 0 <= pos < block.close:
        line_start = pos + 1
        line = script.text[line_start : _line_end(script.text, line_start)]
        if line.strip() and line_start + len(_indent_of(script.text, line_start)) < block.close:
            return _indent_of(script.text, line_start)
        pos = script.text.find("\n", line_start)
    return None


def _insert_after(
    script: Script, anchor: Statement, path: Sequence[str], value: str, setter: bool
) -> str:
    text = script.text
    at = _line_end(text, anchor.end)
    line = _indent_of(text, anchor.start) + _assignment(script, ".".join(path), value, setter)
    return text[:at] + script.newline + line + text[at:]


def _append_block(script: Script, path: Sequence[str], value: str, setter: bool) -> str:
    text, nl = script.text, script.newline
    unit = "\t" if re.search(r"^\t", text, re.M) else "    "
    block = nl.join(_nested_lines(script, path, value, unit, setter))
    if not text.strip():
        return block + nl
    if not text.endswith("\n"):
        return text + nl + nl + block  # the file had no final newline; neither does it now
    gap = "" if text.endswith(nl + nl) else nl
    return text + gap + block + nl


def _snippet(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


# --- scanning -------------------------------------------------------------------------------


def _mask(text: str, kotlin: bool) -> tuple[str, list[Literal]]:
    """The text with comments and string contents blanked (newlines kept), and the literals.

    Quotes stay in place so that a literal is still visible as a value; what is inside it,
    including ``${…}`` interpolation, cannot be mistaken for code.
    """
    out = list(text)
    literals: list[Literal] = []

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] not in "\r\n":
                out[k] = " "

    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = _comment_end(text, i, nested=kotlin)
            blank(i, end)
            i = end
        elif text[i] in "'\"":
            lit = _string(text, i, kotlin)
            start, end = lit.content
            blank(start, end)
            literals.append(lit)
            i = lit.end
        else:
            i += 1
    return "".join(out), literals


def _comment_end(text: str, start: int, nested: bool) -> int:
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth = depth + 1 if nested or depth == 0 else depth
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ScriptError(f"unterminated /* comment at line {text.count(chr(10), 0, start) + 1}")


def _string(text: str, start: int, kotlin: bool) -> Literal:
    """The literal that starts at ``start``, skipping escapes and ``${…}`` interpolation."""
    char = text[start]
    quote = char * 3 if text.startswith(char * 3, start) else char
    interpolating = char == '"'
    escapes = not (kotlin and quote == '"""')  # Kotlin raw strings have no escapes
    interpolated = False
    i = start + len(quote)
    while i < len(text):
        if text.startswith(quote, i):
            end = i + len(quote)
            while len(quote) == 3 and end < len(text) and text[end] == char:
                end += 1  # """a"""" ends with the last three quotes
            return Literal(start, end, quote, interpolated)
        c = text[i]
        if c == "\\" and escapes:
            i += 2
            continue
        if c == "\n" and len(quote) == 1:
            break
        if interpolating and c == "$" and i + 1 < len(text):
            if text[i + 1] == "{":
                interpolated = True
                i = _interpolation_end(text, i + 1, kotlin)
                continue
            if text[i + 1].isalpha() or text[i + 1] == "_":
                interpolated = True
        i += 1
    raise ScriptError(f"unterminated string at line {text.count(chr(10), 0, start) + 1}")


def _interpolation_end(text: str, open_brace: int, kotlin: bool) -> int:
    """Offset just past the ``}`` that closes ``${`` at ``open_brace``."""
    depth, i = 0, open_brace
    while i < len(text):
        c = text[i]
        if c in "'\"":
            i = _string(text, i, kotlin).end
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ScriptError(f"unterminated ${{ at line {text.count(chr(10), 0, open_brace) + 1}")


def _blocks(masked: str) -> tuple[Block, ...]:
    """Every ``{ … }`` of the masked text with its name, in order of the opening brace."""
    stack: list[tuple[int, str, tuple[int, int] | None]] = []
    found: list[Block] = []
    for i, c in enumerate(masked):
        if c == "{":
            stack.append((i, *_block_head(masked, i)))
        elif c == "}":
            if not stack:
                raise ScriptError(f"unbalanced '}}' at line {masked.count(chr(10), 0, i) + 1}")
            open_, name, arguments = stack.pop()
            found.append(Block(name, open_, i, tuple(n for _, n, _ in stack), arguments))
    if stack:
        line = masked.count("\n", 0, stack[-1][0]) + 1
        raise ScriptError(f"unbalanced '{{' at line {line}")
    return tuple(sorted(found, key=lambda b: b.open))


def _block_head(masked: str, brace: int) -> tuple[str, tuple[int, int] | None]:
    """``jib`` for ``jib {``, ``tasks.named`` for ``tasks.named<T>("x") {``, else "".

    With the name come the offsets of the call's arguments, inside its parentheses.
    """
    j = brace - 1
    while j >= 0 and masked[j] in " \t":
        j -= 1
    arguments = None
    for close, open_ in ((")", "("), (">", "<")):
        if j >= 0 and masked[j] == close:
            start = _matching_back(masked, j, open_, close)
            if start is None:
                return "", None
            if close == ")":
                arguments = (start + 1, j)
            j = start - 1
            while j >= 0 and masked[j] in " \t":
                j -= 1
    end = j + 1
    while j >= 0 and (masked[j].isalnum() or masked[j] in "_."):
        j -= 1
    return masked[j + 1 : end].strip("."), arguments


def _matching_back(masked: str, close: int, open_: str, close_: str) -> int | None:
    depth = 0
    for j in range(close, -1, -1):
        if masked[j] == close_:
            depth += 1
        elif masked[j] == open_:
            depth -= 1
            if depth == 0:
                return j
        elif masked[j] in "\n;{}" and open_ == "<":
            return None  # a comparison, not a type argument
    return None


def _matching(masked: str, open_pos: int, open_: str, close_: str) -> int | None:
    depth = 0
    for j in range(open_pos, len(masked)):
        if masked[j] == open_:
            depth += 1
        elif masked[j] == close_:
            depth -= 1
            if depth == 0:
                return j
    return None


def _paren_depths(masked: str) -> list[int]:
    """Depth of ``(`` and ``[`` nesting before each offset (one entry past the end too)."""
    depths, depth = [0], 0
    for c in masked:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        depths.append(depth)
    return depths


def _statement_end(masked: str, start: int) -> int:
    """Where the statement that continues at ``start`` ends: newline or ``;`` at its level."""
    depth, i = 0, start
    while i < len(masked):
        c = masked[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif c in "\n;" and depth == 0:
            break
        i += 1
    while i > start and masked[i - 1] in " \t\r":
        i -= 1
    return i
