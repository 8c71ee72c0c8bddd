"""XML as text with positions: edit a pom.xml in place so the diff is only the changed lines.

A round trip through a DOM (lxml included) rewrites attribute layout, the declaration and
empty elements, which turns a one-line fix into a noisy diff. Expat reports the byte
offset of every tag, so this module builds a tree of offsets and edits the original bytes.
It refuses DTDs and entity declarations outright: a build file never needs them, and they
are how XML bombs and external-entity reads get in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat


class XmlError(ValueError):
    pass


MAX_DEPTH = 256  # far deeper than any build file; deeper nesting is refused, not walked


@dataclass(eq=False)
class Node:
    tag: str
    start: int  # offset of "<" of the start tag
    start_end: int  # offset just after the start tag's ">"
    end_start: int = -1  # offset of "<" of the end tag (== start_end when self-closing)
    end: int = -1  # offset just after the element
    parent: Node | None = field(default=None, repr=False)
    children: list[Node] = field(default_factory=list, repr=False)

    @property
    def self_closing(self) -> bool:
        return self.end == self.start_end

    def child(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def iter(self, tag: str) -> list[Node]:
        """Every element named ``tag`` at or below this one, in document order."""
        found = []
        stack = [self]
        while stack:
            node = stack.pop()
            if node.tag == tag:
                found.append(node)
            stack.extend(reversed(node.children))
        return found

    def path(self) -> list[str]:
        node: Node | None = self
        names = []
        while node is not None:
            names.append(node.tag)
            node = node.parent
        return names[::-1]


@dataclass(frozen=True)
class XmlDocument:
    source: bytes
    root: Node

    def text(self, node: Node) -> str:
        return self.source[node.start_end : node.end_start].decode("utf-8")

    def indent_of(self, node: Node) -> str:
        """The whitespace before ``node`` on its line ('' if something else precedes it)."""
        line_start = self.source.rfind(b"\n", 0, node.start) + 1
        prefix = self.source[line_start : node.start]
        return prefix.decode() if prefix.strip() == b"" else ""

    @property
    def newline(self) -> str:
        return "\r\n" if b"\r\n" in self.source else "\n"

    def indent_unit(self) -> str:
        """The file's indentation step, judged from a parent and its first child."""
        steps: dict[str, int] = {}
        stack = [self.root]
        while stack:
            node = stack.pop()
            parent_indent = self.indent_of(node)
            for child in node.children:
                child_indent = self.indent_of(child)
                if child_indent.startswith(parent_indent) and len(child_indent) > len(
                    parent_indent
                ):
                    step = child_indent[len(parent_indent) :]
                    steps[step] = steps.get(step, 0) + 1
                stack.append(child)
        return max(steps, key=lambda s: steps[s]) if steps else "    "


def parse(source: bytes) -> XmlDocument:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    roots: list[Node] = []

    def refuse(*_args: object) -> None:
        raise XmlError("DTDs and entity declarations are not accepted in build files")

    def start(tag: str, _attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise XmlError(f"elements nested too deeply (more than {MAX_DEPTH} levels)")
        offset = parser.CurrentByteIndex
        start_end = _tag_end(source, offset)
        node = Node(tag=tag, start=offset, start_end=start_end, parent=stack[-1] if stack else None)
        if source[start_end - 2 : start_end] == b"/>":
            node.end_start = node.end = start_end
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        node = stack.pop()
        if node.end == -1:
            node.end_start = parser.CurrentByteIndex
            node.end = _tag_end(source, node.end_start)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(source, True)
    except expat.ExpatError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None
    if len(roots) != 1:
        raise XmlError("no root element")
    return XmlDocument(source=source, root=roots[0])


_QUOTED_OR_END = re.compile(rb"\"[^\"]*\"|'[^']*'|>")


def _tag_end(source: bytes, offset: int) -> int:
    """Offset just past the '>' closing the tag that starts at ``offset`` (quotes respected)."""
    for match in _QUOTED_OR_END.finditer(source, offset):
        if match.group() == b">":
            return match.end()
    raise XmlError(f"unterminated tag at byte {offset}")


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def apply(source: bytes, splices: list[Splice]) -> bytes:
    result = source
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        result = result[: splice.start] + splice.text.encode("utf-8") + result[splice.end :]
    return result


def set_text(doc: XmlDocument, node: Node, value: str) -> Splice:
    """Replace an element's content, keeping its tags as they are written."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    if node.self_closing:
        return Splice(node.start, node.end, f"<{node.tag}>{escaped}</{node.tag}>")
    return Splice(node.start_end, node.end_start, escaped)


def append_child(doc: XmlDocument, parent: Node, path: list[str], value: str) -> Splice:
    """Add ``<path[0]><path[1]>…value…</…></path[0]>`` as the last child of ``parent``.

    New elements take the indentation of their siblings (or one step deeper than the
    parent), one element per line, so the diff is exactly the added lines.
    """
    newline, unit = doc.newline, doc.indent_unit()
    parent_indent = doc.indent_of(parent)
    if parent.children:
        child_indent = doc.indent_of(parent.children[-1]) or parent_indent + unit
    else:
        child_indent = parent_indent + unit
    block = _render(path, value, child_indent, unit, newline)
    if parent.self_closing:
        opening = doc.source[parent.start : parent.start_end - 2].decode().rstrip()
        return Splice(
            parent.start,
            parent.end,
            f"{opening}>{block}{newline}{parent_indent}</{parent.tag}>",
        )
    if parent.children:
        return Splice(parent.children[-1].end, parent.children[-1].end, block)
    inner = doc.source[parent.start_end : parent.end_start]
    if inner.strip():
        raise XmlError(f"<{parent.tag}> holds text, not elements")
    return Splice(parent.start_end, parent.end_start, f"{block}{newline}{parent_indent}")


def _render(path: list[str], value: str, indent: str, unit: str, newline: str) -> str:
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    indents = [indent + unit * level for level in range(len(path))]
    block = f"{newline}{indents[-1]}<{path[-1]}>{escaped}</{path[-1]}>"
    for tag, own in zip(reversed(path[:-1]), reversed(indents[:-1]), strict=True):
        block = f"{newline}{own}<{tag}>{block}{newline}{own}</{tag}>"
    return block
