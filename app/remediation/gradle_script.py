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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

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
# Kotlin's typed ``configure<T> {`` configures the extension of type T, as its own block does.
EXTENSIONS = {
    "JibExtension": "jib",
    "com.google.cloud.tools.jib.gradle.JibExtension": "jib",
}
# Blocks nested deeper than this are refused: no build script comes near, and every query
# that lists the blocks around an offset is proportional to the depth.
MAX_DEPTH = 500

_IDENT = r"[A-Za-z_]\w*"
# A statement that starts with a dotted name, and how it goes on: an assignment, a call, or
# (Groovy) a call without parentheses, ``user 'x'``.
_STATEMENT = re.compile(
    rf"(?:^|(?<=[\n;{{}}]))[ \t]*(?P<chain>{_IDENT}(?:[ \t]*\.[ \t]*{_IDENT})*)"
    r"""(?:(?P<assign>[ \t]*=(?!=))|(?P<call>[ \t]*\()|(?P<command>[ \t]+(?=['"])))"""
)
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
_STATEMENT_STOP = re.compile(r"[\n;(\[{)\]}]")
_ARGUMENT_END = re.compile(r"\s*(?:,|\Z)")
_CODE_TOKEN = re.compile(r"//|/\*|['\"]")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_INTERPOLATION_STOP = re.compile(r"['\"{}]")
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_BRACKET = re.compile(r"[()\[\]{}]")
_BRACE = re.compile(r"[{}]")


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
    parent: Block | None = field(default=None, repr=False, compare=False)
    arguments: tuple[int, int] | None = None  # offsets inside the call's "(…)", if any
    type_arguments: tuple[int, int] | None = None  # offsets inside its "<…>", if any

    @property
    def scope(self) -> tuple[str, ...]:
        return tuple(b.name for b in _outward(self.parent))[::-1]


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement that starts with a dotted name: an assignment, a call or a setter call."""

    chain: tuple[str, ...]  # ("jib", "container", "user") for ``jib.container.user = …``
    form: str  # "=", "set" for ``x.set(…)``, "call" for ``x(…)`` or Groovy ``x '…'``
    start: int
    end: int  # end of the statement, before its newline
    value: tuple[int, int]  # the value's expression, stripped
    block: Block | None  # the innermost block around the statement

    @property
    def scope(self) -> tuple[Block, ...]:
        """The blocks around the statement, outermost first."""
        return tuple(_outward(self.block))[::-1]

    @property
    def target(self) -> tuple[str, ...]:
        return self.chain[:-1] if self.form == "set" else self.chain


@dataclass(frozen=True, slots=True)
class AppliedPlugin:
    """A plugin id (or ``alias:libs.plugins.x`` for a version-catalog alias) and where."""

    id: str
    scope: tuple[str, ...]


class Script:
    """One parsed script: the masked text, its string literals, blocks and statements.

    Parsing is linear in the text: each bracket is matched once, and every query about an
    offset (the blocks around it, its bracket depth, whether it is in a literal) is a binary
    search over what the scan recorded.
    """

    def __init__(self, text: str, kotlin: bool) -> None:
        self.text = text
        self.kotlin = kotlin
        self.masked, literals = _mask(text, kotlin)
        self.literals = {lit.start: lit for lit in literals}
        self._literal_starts = [lit.start for lit in literals]
        self._literal_ends = [lit.end for lit in literals]
        pairs = _pairs(self.masked)
        self._closing = pairs.closing
        self._parens = pairs.parens
        self._depth_offsets = pairs.depth_offsets
        self._depths = pairs.depths
        tree = _blocks(self.masked, pairs.parens_back)
        self.blocks = tree.blocks
        self._parents = tree.parents
        self._changes = tree.changes
        self._innermost = tree.innermost
        self._index = {b.open: i for i, b in enumerate(self.blocks)}
        self._inherited_any: dict[tuple[str, tuple[str, ...]], list[bool]] = {}

    @cached_property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    def innermost(self, pos: int) -> Block | None:
        """The innermost block around an offset (``{`` before it, its ``}`` at or after it)."""
        k = bisect_right(self._changes, pos) - 1
        index = self._innermost[k] if k >= 0 else -1
        return self.blocks[index] if index >= 0 else None

    def enclosing(self, pos: int) -> tuple[Block, ...]:
        """The blocks around an offset, outermost first."""
        return tuple(_outward(self.innermost(pos)))[::-1]

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        found = []
        for match in _STATEMENT.finditer(self.masked):
            if match["command"] is not None and self.kotlin:
                continue  # Kotlin has no calls without parentheses
            start = match.start("chain")
            block = self.innermost(start)
            inner = block.open + 1 if block else 0
            if self._paren_depth(start) != self._paren_depth(inner):
                continue  # a named argument on its own line, not a statement
            if (statement := self._statement(match, block)) is not None:
                found.append(statement)
        return tuple(found)

    def _statement(self, match: re.Match[str], block: Block | None) -> Statement | None:
        names = tuple(part.strip() for part in match["chain"].split("."))
        start, after = match.start("chain"), match.end()
        if match["call"] is not None:
            close = self._parens.get(after - 1)
            if close is None:
                return None
            end = self._statement_end(close + 1)
            form = "set" if names[-1] == "set" and len(names) > 1 else "call"
            return Statement(names, form, start, end, self._strip(after, close), block)
        end = self._statement_end(after)
        form = "=" if match["assign"] is not None else "call"
        return Statement(names, form, start, end, self._strip(after, end), block)

    def _statement_end(self, start: int) -> int:
        """Where the statement that continues at ``start`` ends: newline or ``;`` at its level.

        Brackets are stepped over whole, so nested statements do not make this quadratic.
        """
        masked, i = self.masked, len(self.masked)
        pos = start
        while (stop := _STATEMENT_STOP.search(masked, pos)) is not None:
            if stop[0] not in "([{":
                i = stop.start()  # a newline, ``;`` or a bracket this statement is inside
                break
            close = self._closing.get(stop.start())
            if close is None:
                break  # never closed: the statement runs to the end
            pos = close + 1
        while i > start and masked[i - 1] in " \t\r":
            i -= 1
        return i

    def _paren_depth(self, pos: int) -> int:
        """Depth of ``(`` and ``[`` nesting before an offset."""
        k = bisect_left(self._depth_offsets, pos) - 1
        return self._depths[k] if k >= 0 else 0

    def _strip(self, start: int, end: int) -> tuple[int, int]:
        masked = self.masked
        while start < end and masked[start].isspace():
            start += 1
        while end > start and masked[end - 1].isspace():
            end -= 1
        return start, end

    def literal(self, statement: Statement) -> Literal | None:
        """The statement's value if it is exactly one plain (non-interpolated) string literal."""
        start, end = statement.value
        lit = self.literals.get(start)
        if lit is None or lit.end != end or lit.interpolated:
            return None
        return lit

    def first_literal(self, start: int, end: int) -> Literal | None:
        """The first string literal that starts inside ``[start, end)``."""
        k = bisect_left(self._literal_starts, start)
        if k < len(self._literal_starts) and self._literal_starts[k] < end:
            return self.literals[self._literal_starts[k]]
        return None

    def group(self, block: Block) -> tuple[str, ...]:
        """The names a block configures: ``tasks.named<T>("x", …) {`` configures ``tasks.x``.

        Kotlin's ``configure<JibExtension> {`` configures ``jib``.
        """
        names = _split(block.name)
        if names == ("configure",) and block.type_arguments is not None:
            extension = EXTENSIONS.get("".join(self.masked[slice(*block.type_arguments)].split()))
            if extension is not None:
                return (extension,)
        if names[-1:] and names[-1] in LOOKUPS and block.arguments is not None:
            start, end = self._strip(*block.arguments)
            lit = self.literals.get(start)
            if (
                lit is not None
                and not lit.interpolated
                and _ARGUMENT_END.match(self.masked, lit.end, end) is not None
            ):
                return (*names[:-1], self.string(lit))
        return names

    def not_plain(self, statement: Statement, path: Sequence[str]) -> str:
        """Why a statement that sets ``path`` to something other than a plain string is left
        alone."""
        return (
            f"line {self.line(statement.start)} sets {'.'.join(path)} from "
            f"`{_snippet(self.value_text(statement))}`, not a plain string; "
            "change that value by hand"
        )

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
            if self._reaches(self._index_of(s.block), s.target, path, within)
        ]

    def blocks_at(self, path: Sequence[str], within: Sequence[str] = ()) -> list[Block]:
        """Blocks that configure ``path`` (``jib { container {`` or ``jib.container {``)."""
        return [
            b
            for i, b in enumerate(self.blocks)
            if self._reaches(self._parents[i], self._groups[i], path, within)
        ]

    def dotted(self, head: str, within: Sequence[str] = ()) -> list[Statement]:
        """Unconditional statements that start with ``head.``, such as ``jib.to.image = …``."""
        found = []
        for s in self.statements:
            if len(s.chain) < 2 or s.chain[0] != head:
                continue
            index = self._index_of(s.block)
            if index >= 0 and not self._in_projects[index]:
                continue
            if within and not (index >= 0 and self._inside("name", within)[index]):
                continue
            found.append(s)
        return found

    def is_code(self, pos: int) -> bool:
        return self.masked[pos] == self.text[pos] and not self._in_literal(pos)

    def _in_literal(self, pos: int) -> bool:
        k = bisect_right(self._literal_starts, pos) - 1
        return k >= 0 and pos < self._literal_ends[k]

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

    # --- per-block facts, computed once, parents before children --------------------------

    def _index_of(self, block: Block | None) -> int:
        return -1 if block is None else self._index[block.open]

    @cached_property
    def _groups(self) -> list[tuple[str, ...]]:
        return [self.group(b) for b in self.blocks]

    @cached_property
    def _labels(self) -> list[str]:
        """Each block's group as one name: what a project scope or ``within`` is matched on."""
        return [".".join(group) for group in self._groups]

    @cached_property
    def _named(self) -> list[int]:
        """The nearest block, itself or around it, whose group is not empty (-1: none)."""
        named: list[int] = []
        for i, parent in enumerate(self._parents):
            named.append(i if self._groups[i] else (named[parent] if parent >= 0 else -1))
        return named

    @cached_property
    def _transparent(self) -> list[bool]:
        """The block and every block around it are transparent."""
        return self._inherit([label in TRANSPARENT for label in self._labels], every=True)

    @cached_property
    def _in_projects(self) -> list[bool]:
        """The block and every block around it are project scopes."""
        return self._inherit([b.name in PROJECT_SCOPES for b in self.blocks], every=True)

    def _inside(self, key: str, within: Sequence[str]) -> list[bool]:
        """The block or one around it is one of ``within``, by its name or by its label."""
        memo = (key, tuple(within))
        if memo not in self._inherited_any:
            names = self._labels if key == "label" else [b.name for b in self.blocks]
            own = [name in within for name in names]
            self._inherited_any[memo] = self._inherit(own, every=False)
        return self._inherited_any[memo]

    def _inherit(self, own: list[bool], every: bool) -> list[bool]:
        out: list[bool] = []
        for i, parent in enumerate(self._parents):
            outer = out[parent] if parent >= 0 else every
            out.append((own[i] and outer) if every else (own[i] or outer))
        return out

    def _reaches(
        self, index: int, tail: tuple[str, ...], path: Sequence[str], within: Sequence[str]
    ) -> bool:
        """Do ``tail`` and the groups of block ``index`` and those around it spell ``path``,
        behind only transparent blocks (and inside one of ``within``, if given)?

        Blocks with an empty group add nothing to the path and are never transparent, so
        they are stepped over; the walk stops as soon as ``tail`` stops being a suffix.
        """
        wanted = tuple(path)
        while True:
            index = self._named[index] if index >= 0 else -1
            if tail == wanted and self._outer_ok(index, within):
                return True
            if index < 0 or len(tail) >= len(wanted) or wanted[len(wanted) - len(tail) :] != tail:
                return False
            tail = self._groups[index] + tail
            index = self._parents[index]

    def _outer_ok(self, index: int, within: Sequence[str]) -> bool:
        """Is everything from block ``index`` outwards transparent (and inside ``within``)?"""
        if index < 0:
            return not within
        return self._transparent[index] and (not within or self._inside("label", within)[index])


@lru_cache(maxsize=16)
def parse(text: str, kotlin: bool) -> Script:
    """Parse a script; raises ScriptError when it cannot be read safely.

    A fixer reads the same script several times (to find where Jib is configured, its
    current values, then to edit it), so recent parses are kept: a Script is never changed.
    """
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
    existing = script.assignments(path, within)
    if existing:
        splices = []
        for statement in existing:
            lit = script.literal(statement)
            if lit is None:
                return Edit(None, script.not_plain(statement, path))
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
    pieces: list[str] = []
    literals: list[Literal] = []
    kept = pos = 0  # text before ``kept`` is in ``pieces``; scanning resumes at ``pos``
    while (token := _CODE_TOKEN.search(text, pos)) is not None:
        start = token.start()
        if token[0] == "//":
            end = text.find("\n", start)
            pos = end = len(text) if end < 0 else end
        elif token[0] == "/*":
            pos = end = _comment_end(text, start, nested=kotlin)
        else:
            lit = _string(text, start, kotlin)
            literals.append(lit)
            start, end = lit.content
            pos = lit.end
        pieces += (text[kept:start], _NOT_NEWLINE.sub(" ", text[start:end]))
        kept = end
    pieces.append(text[kept:])
    return "".join(pieces), literals


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _comment_end(text: str, start: int, nested: bool) -> int:
    if not nested:
        end = text.find("*/", start + 2)
        if end >= 0:
            return end + 2
    else:
        depth = 0
        for mark in _COMMENT_MARK.finditer(text, start):
            depth += 1 if mark[0] == "/*" else -1
            if depth == 0:
                return mark.end()
    raise ScriptError(f"unterminated /* comment at line {_line(text, start)}")


def _quote(text: str, start: int) -> str:
    char = text[start]
    return char * 3 if text.startswith(char * 3, start) else char


@cache
def _string_stops(quote: str, kotlin: bool) -> re.Pattern[str]:
    """The characters that matter inside a string with this quote: the quote, and where they
    apply escapes (not in Kotlin raw strings), newlines (which end a one-line string) and ``$``.
    """
    stops = quote[0]
    if not (kotlin and quote == '"""'):
        stops += "\\"
    if len(quote) == 1:
        stops += "\n"
    if quote[0] == '"':
        stops += "$"
    return re.compile("[" + re.escape(stops) + "]")


def _string(text: str, start: int, kotlin: bool) -> Literal:
    """The literal that starts at ``start``, skipping escapes and ``${…}`` interpolation.

    Strings inside an interpolation, and interpolations inside those, are followed with an
    explicit stack of (quote or ``${``, where it opened, brace depth), so that no nesting
    can exhaust Python's recursion limit.
    """
    outer = _quote(text, start)
    interpolated = False
    frames: list[tuple[str, int, int]] = [(outer, start, 0)]
    i = start + len(outer)
    while True:
        kind, opened, depth = frames[-1]
        if kind == "${":
            stop = _INTERPOLATION_STOP.search(text, i)
            if stop is None:
                raise ScriptError(f"unterminated ${{ at line {_line(text, opened)}")
            i = stop.start()
            if stop[0] in "'\"":
                quote = _quote(text, i)
                frames.append((quote, i, 0))
                i += len(quote)
                continue
            depth += 1 if stop[0] == "{" else -1
            frames[-1] = (kind, opened, depth)
            if depth == 0:
                frames.pop()
            i += 1
            continue
        stop = _string_stops(kind, kotlin).search(text, i)
        if stop is None or stop[0] == "\n":
            raise ScriptError(f"unterminated string at line {_line(text, opened)}")
        i = stop.start()
        if text.startswith(kind, i):
            end = i + len(kind)
            while len(kind) == 3 and end < len(text) and text[end] == kind[0]:
                end += 1  # """a"""" ends with the last three quotes
            frames.pop()
            if not frames:
                return Literal(start, end, outer, interpolated)
            i = end
        elif stop[0] == "\\":
            i += 2
        elif stop[0] == "$" and text.startswith("{", i + 1):
            interpolated = True
            frames.append(("${", i + 1, 1))
            i += 2
        else:
            if (
                stop[0] == "$"
                and i + 1 < len(text)
                and (text[i + 1].isalpha() or text[i + 1] == "_")
            ):
                interpolated = True
            i += 1


@dataclass(frozen=True, slots=True)
class _Pairs:
    """The brackets of the masked text, matched once."""

    closing: dict[int, int]  # any opening bracket → the closing one that ends its nesting
    parens: dict[int, int]  # "(" → its ")", counting parentheses only
    parens_back: dict[int, int]  # ")" → its "("
    depth_offsets: list[int]  # offsets of "(", "[", ")" and "]" …
    depths: list[int]  # … and the depth of "(" and "[" nesting just after each


def _pairs(masked: str) -> _Pairs:
    closing: dict[int, int] = {}
    parens: dict[int, int] = {}
    parens_back: dict[int, int] = {}
    offsets: list[int] = []
    depths: list[int] = []
    openers: list[int] = []
    open_parens: list[int] = []
    depth = 0
    for match in _BRACKET.finditer(masked):
        i, c = match.start(), match[0]
        if c in "([{":
            openers.append(i)
        elif openers:
            closing[openers.pop()] = i
        if c == "(":
            open_parens.append(i)
        elif c == ")" and open_parens:
            start = open_parens.pop()
            parens[start] = i
            parens_back[i] = start
        if c in "([)]":
            depth += 1 if c in "([" else -1
            offsets.append(i)
            depths.append(depth)
    return _Pairs(closing, parens, parens_back, offsets, depths)


@dataclass(frozen=True, slots=True)
class _Tree:
    blocks: tuple[Block, ...]  # in order of the opening brace
    parents: list[int]  # each block's parent's index, -1 for a top-level block
    changes: list[int]  # offsets from which the innermost block changes …
    innermost: list[int]  # … to this one (-1: none)


def _blocks(masked: str, parens_back: dict[int, int]) -> _Tree:
    """Every ``{ … }`` of the masked text with its name, in order of the opening brace."""
    heads: list[tuple[str, int, tuple[int, int] | None, tuple[int, int] | None]] = []
    closes: list[int] = []
    parents: list[int] = []
    changes: list[int] = []
    innermost: list[int] = []
    stack: list[int] = []
    for match in _BRACE.finditer(masked):
        i = match.start()
        if match[0] == "{":
            if len(stack) == MAX_DEPTH:
                raise ScriptError(
                    f"blocks nested more than {MAX_DEPTH} deep at line {_line(masked, i)}"
                )
            name, arguments, type_arguments = _block_head(masked, i, parens_back)
            parents.append(stack[-1] if stack else -1)
            stack.append(len(heads))
            heads.append((name, i, arguments, type_arguments))
            closes.append(-1)
            changes.append(i + 1)
            innermost.append(stack[-1])
        else:
            if not stack:
                raise ScriptError(f"unbalanced '}}' at line {_line(masked, i)}")
            index = stack.pop()
            closes[index] = i
            changes.append(i + 1)
            innermost.append(parents[index])
    if stack:
        raise ScriptError(f"unbalanced '{{' at line {_line(masked, heads[stack[-1]][1])}")
    blocks: list[Block] = []
    for (name, open_, arguments, type_arguments), close, parent in zip(
        heads, closes, parents, strict=True
    ):
        outer = blocks[parent] if parent >= 0 else None
        blocks.append(Block(name, open_, close, outer, arguments, type_arguments))
    return _Tree(tuple(blocks), parents, changes, innermost)


def _outward(block: Block | None) -> Iterator[Block]:
    """The block and those around it, innermost first."""
    while block is not None:
        yield block
        block = block.parent


def _block_head(
    masked: str, brace: int, parens_back: dict[int, int]
) -> tuple[str, tuple[int, int] | None, tuple[int, int] | None]:
    """``jib`` for ``jib {``, ``tasks.named`` for ``tasks.named<T>("x") {``, else "".

    With the name come the offsets of the call's arguments, inside its parentheses, and of
    its type arguments, inside its angle brackets.
    """
    j = brace - 1
    while j >= 0 and masked[j] in " \t":
        j -= 1
    arguments = type_arguments = None
    for close in ")>":
        if j >= 0 and masked[j] == close:
            start = parens_back.get(j) if close == ")" else _type_arguments_start(masked, j)
            if start is None:
                return "", None, None
            if close == ")":
                arguments = (start + 1, j)
            else:
                type_arguments = (start + 1, j)
            j = start - 1
            while j >= 0 and masked[j] in " \t":
                j -= 1
    end = j + 1
    while j >= 0 and (masked[j].isalnum() or masked[j] in "_."):
        j -= 1
    return masked[j + 1 : end].strip("."), arguments, type_arguments


def _type_arguments_start(masked: str, close: int) -> int | None:
    """The ``<`` that ``>`` at ``close`` closes on its line, if it is not a comparison."""
    depth = 0
    for j in range(close, -1, -1):
        if masked[j] == ">":
            depth += 1
        elif masked[j] == "<":
            depth -= 1
            if depth == 0:
                return j
        elif masked[j] in "\n;{}":
            return None  # a comparison, not a type argument
    return None
