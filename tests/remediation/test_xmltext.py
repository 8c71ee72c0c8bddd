"""Property tests for the positional XML parser: every offset points at the right markup."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from app.remediation import xmltext

TAGS = st.sampled_from(
    ["project", "build", "plugin", "configuration", "container", "user", "a.b-c"]
)
ATTRIBUTE_VALUES = st.text(alphabet="ab>/<'= ", max_size=6).map(
    lambda v: '"' + v.replace('"', "").replace("<", "") + '"'
)
SPACE = st.sampled_from(["", " ", "\n", "\n  ", "\t", "\r\n    "])
TEXT = st.text(alphabet="abc 123 $\n{}", max_size=8)


@dataclass
class Element:
    tag: str
    attributes: list[str]
    children: list[Element]
    text: str
    comment: str | None
    self_closing: bool

    def render(self, indent: str) -> str:
        attrs = "".join(f" x{i}={v}" for i, v in enumerate(self.attributes))
        if self.self_closing and not self.children:
            return f"<{self.tag}{attrs}/>"
        inner = self.text
        if self.comment is not None:
            inner += f"<!--{self.comment}-->"
        inner += "".join(indent + child.render(indent) for child in self.children)
        return f"<{self.tag}{attrs}>{inner}{indent}</{self.tag} >"

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)


ELEMENTS = st.recursive(
    st.builds(
        Element,
        TAGS,
        st.lists(ATTRIBUTE_VALUES, max_size=2),
        st.just([]),
        TEXT,
        st.none() | st.text(alphabet="<>ab/ ", max_size=6).map(lambda c: c.replace("--", "")),
        st.booleans(),
    ),
    lambda children: st.builds(
        Element,
        TAGS,
        st.lists(ATTRIBUTE_VALUES, max_size=2),
        st.lists(children, max_size=3),
        TEXT,
        st.none(),
        st.just(False),
    ),
    max_leaves=12,
)


@given(root=ELEMENTS, indent=SPACE)
def test_offsets_slice_out_each_element(root: Element, indent: str) -> None:
    source = ('<?xml version="1.0"?>\n' + root.render(indent)).encode()
    doc = xmltext.parse(source)
    nodes = []
    stack = [doc.root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children)
        opening = source[node.start : node.start_end].decode()
        assert opening.startswith(f"<{node.tag}") and opening.endswith(">")
        if node.self_closing:
            assert opening.endswith("/>")
        else:
            assert source[node.end_start : node.end].decode().startswith(f"</{node.tag}")
        # the element's own bytes are well-formed XML on their own
        etree.fromstring(source[node.start : node.end])
    assert len(nodes) == root.count()


@given(root=ELEMENTS, value=st.text(alphabet="abc<&>:0123", min_size=1, max_size=10))
def test_set_text_round_trips_through_a_real_parser(root: Element, value: str) -> None:
    source = root.render("\n").encode()
    doc = xmltext.parse(source)
    leaves = [n for n in [doc.root, *_all(doc.root)] if not n.children]
    target = leaves[0]
    edited = xmltext.apply(source, [xmltext.set_text(doc, target, value)])
    reparsed = etree.fromstring(edited)
    matches = [el for el in reparsed.iter(target.tag) if (el.text or "") == value]
    assert matches


@given(root=ELEMENTS, indent=SPACE)
def test_append_child_adds_exactly_one_parsable_child(root: Element, indent: str) -> None:
    source = root.render(indent).encode()
    doc = xmltext.parse(source)
    if doc.source[doc.root.start_end : doc.root.end_start].strip() and not doc.root.children:
        with pytest.raises(xmltext.XmlError, match="holds text"):  # mixed content is not ours
            xmltext.append_child(doc, doc.root, ["container", "user"], "1")
        return
    edited = xmltext.apply(
        source, [xmltext.append_child(doc, doc.root, ["container", "user"], "1")]
    )
    reparsed = etree.fromstring(edited)
    assert reparsed[-1].tag == "container" and reparsed[-1][0].text == "1"
    assert len(reparsed) == len(etree.fromstring(source)) + 1


def _all(node: xmltext.Node) -> list[xmltext.Node]:
    found = []
    for child in node.children:
        found.append(child)
        found.extend(_all(child))
    return found


def _nested(depth: int, leaf: str = "") -> bytes:
    return ("<a>" * depth + leaf + "</a>" * depth).encode()


def test_absurd_nesting_is_refused_while_parsing() -> None:
    with pytest.raises(xmltext.XmlError, match="nested too deeply"):
        xmltext.parse(_nested(3000))
    with pytest.raises(xmltext.XmlError, match="nested too deeply"):
        xmltext.parse(_nested(xmltext.MAX_DEPTH + 1))
    doc = xmltext.parse(_nested(xmltext.MAX_DEPTH - 1, "<user>0</user>"))
    [user] = doc.root.iter("user")
    assert len(user.path()) == xmltext.MAX_DEPTH


def test_iter_walks_deep_trees_without_recursion() -> None:
    root = node = xmltext.Node("a", 0, 0)
    for _ in range(5000):
        child = xmltext.Node("a", 0, 0, parent=node)
        node.children.append(child)
        node = child
    found = root.iter("a")
    assert len(found) == 5001 and found[0] is root and found[-1] is node
    assert len(node.path()) == 5001


def test_iter_is_in_document_order() -> None:
    doc = xmltext.parse(b"<r><x n='1'><x n='2'/></x><y><x n='3'/></y><x n='4'/></r>")
    starts = [n.start for n in doc.root.iter("x")]
    assert starts == sorted(starts) and len(starts) == 4
