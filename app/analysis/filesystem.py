"""The image's final filesystem: layers applied in order, whiteouts and all.

A tree, not a flat map of paths, so that deleting a directory (a whiteout, an opaque
marker, a file replacing a directory) costs the same whatever lies under it: a hostile
layer of many whiteouts over many files stays linear. Each node remembers which layer put
it there, which is how a file added in one layer and replaced or deleted later is told
apart from the one in the final image.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.analysis.layers import DIR, HARDLINK, SYMLINK, Entry, LayerFacts, normalize

MAX_LINK_HOPS = 40  # as Linux's MAXSYMLINKS


@dataclass(slots=True)
class _Node:
    layer: int
    entry: Entry | None = None  # None: a directory implied by a path under it
    children: dict[str, _Node] | None = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.children is not None


class Filesystem:
    def __init__(self) -> None:
        self._root = _Node(layer=-1)

    @classmethod
    def from_layers(cls, layers: list[LayerFacts]) -> Filesystem:
        fs = cls()
        for index, layer in enumerate(layers):
            fs.apply(index, layer)
        return fs

    def apply(self, index: int, layer: LayerFacts) -> None:
        """Lower layers lose what this layer's whiteouts name; then its entries are added."""
        for directory in layer.opaque:
            node = self._node(directory)
            if node is not None and node.children is not None:
                node.children = {}
        for path in layer.whiteouts:
            self._remove(path)
        # Each directory is looked up once per layer, however many entries it holds (the
        # merge runs after the last layer is walked, on the critical path of every scan).
        directories: dict[str, _Node | None] = {}
        for entry in layer.entries:
            directory, _, name = entry.path.rpartition("/")
            parent = directories.get(directory)
            if parent is None:
                parent = directories[directory] = self._directory(directory, index)
            if parent is None or not name:
                self._add(entry, index)  # through a symlink, or an odd name: the general way
                directories.clear()  # it may have replaced a directory on the way
            elif self._place(parent, name, entry, index):
                directories.clear()  # a directory was replaced: cached ones may be inside it

    def _node(self, path: str) -> _Node | None:
        node = self._root
        for part in _parts(path):
            if node.children is None or part not in node.children:
                return None
            node = node.children[part]
        return node

    def _remove(self, path: str) -> None:
        parent, name = posixpath.split(path)
        node = self._node(parent)
        if node is not None and node.children is not None:
            node.children.pop(name, None)

    def _add(self, entry: Entry, layer: int, hops: int = 0) -> None:
        parts = _parts(entry.path)
        node = self._root
        for depth, part in enumerate(parts[:-1]):
            children = node.children if node.children is not None else {}
            child = children.get(part)
            if (
                child is not None
                and child.entry is not None
                and child.entry.kind == SYMLINK
                and hops < MAX_LINK_HOPS
            ):
                # A directory reached through a symlink (usrmerge's /bin → usr/bin): the entry
                # lands where the link points, as container runtimes apply it.
                target = self.resolve("/".join(parts[: depth + 1]))
                found = self._node(target) if target is not None else None
                if found is not None and found.is_dir:
                    rest = "/".join([target or "", *parts[depth + 1 :]]).strip("/")
                    self._add(entry._replace(path=rest), layer, hops + 1)
                    return
            if child is None or not child.is_dir:  # a file in the way becomes a directory
                child = children[part] = _Node(layer=layer)
            node = child
        if node.children is None:  # only the root can get here, and it is a directory
            node.children = {}
        self._place(node, parts[-1], entry, layer)

    def _directory(self, path: str, layer: int) -> _Node | None:
        """The directory at a clean ``path``, implied directories created as ``_add`` creates
        them; None when a symlink is on the way (``_add`` decides where that leads)."""
        node = self._root
        if not path:
            return node
        parts = path.split("/")
        if "" in parts:
            return None
        for part in parts:
            children = node.children if node.children is not None else {}
            child = children.get(part)
            if child is None or child.children is None:
                if child is not None and child.entry is not None and child.entry.kind == SYMLINK:
                    return None
                child = children[part] = _Node(layer=layer)  # a file in the way is replaced
            node = child
        return node

    @staticmethod
    def _place(parent: _Node, name: str, entry: Entry, layer: int) -> bool:
        """Put ``entry`` in ``parent``; True when that replaced a directory."""
        children = parent.children if parent.children is not None else {}
        existing = children.get(name)
        if entry.kind == DIR and existing is not None and existing.children is not None:
            existing.entry, existing.layer = entry, layer  # directories merge
            return False
        children[name] = _Node(layer=layer, entry=entry, children={} if entry.kind == DIR else None)
        return existing is not None and existing.children is not None

    def get(self, path: str) -> tuple[Entry | None, int] | None:
        """(entry, layer) for a path in the final image; entry None for an implied directory."""
        node = self._node(normalize(path))
        return None if node is None else (node.entry, node.layer)

    def walk(self) -> Iterator[tuple[str, Entry | None, int]]:
        """Every path of the final image, parents before children."""
        stack: list[tuple[str, _Node]] = [("", self._root)]
        while stack:
            prefix, node = stack.pop()
            for name, child in sorted((node.children or {}).items(), reverse=True):
                path = f"{prefix}/{name}" if prefix else name
                yield path, child.entry, child.layer
                if child.children:
                    stack.append((path, child))

    def resolve(self, path: str) -> str | None:
        """Follow symlinks (and a final hardlink) inside the image root; None if the path does
        not exist or the links loop."""
        pending = _parts(normalize(path))
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            node = self._node("/".join([*done, part]))
            if node is None:
                return None
            entry = node.entry
            if entry is not None and entry.kind in (SYMLINK, HARDLINK) and entry.link is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                if entry.kind == HARDLINK or entry.link.startswith("/"):
                    target = entry.link  # hardlinks name archive paths, from the root
                else:
                    target = posixpath.join("/".join(done), entry.link)
                pending = _parts(normalize(target)) + pending
                done = []
                continue
            done.append(part)
        return "/".join(done)


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]
