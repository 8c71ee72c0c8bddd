"""The merged filesystem against a simple reference model of OCI whiteouts (hypothesis)."""

from __future__ import annotations

import posixpath

from hypothesis import given, settings
from hypothesis import strategies as st

from app.analysis.filesystem import Filesystem
from app.analysis.layers import DIR, FILE, SYMLINK, Entry, LayerFacts

NAMES = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)


@st.composite
def layers(draw: st.DrawFn) -> list[LayerFacts]:
    result = []
    for index in range(draw(st.integers(1, 5))):
        entries = [
            Entry(path, draw(st.sampled_from([FILE, DIR, SYMLINK])))
            for path in draw(st.lists(PATHS, max_size=6, unique=True))
        ]
        result.append(
            LayerFacts(
                digest=f"l{index}",
                entries=entries,
                whiteouts=draw(st.lists(PATHS, max_size=3, unique=True)),
                opaque=draw(st.lists(PATHS | st.just(""), max_size=2, unique=True)),
            )
        )
    return result


def model(all_layers: list[LayerFacts]) -> dict[str, tuple[str, int]]:
    """The obvious, slow definition: a flat map of paths, prefixes deleted by scanning."""
    state: dict[str, tuple[str, int]] = {}

    def drop_under(path: str) -> None:
        for key in [k for k in state if k.startswith(path + "/") or (path == "" and k)]:
            del state[key]

    for index, layer in enumerate(all_layers):
        for directory in layer.opaque:
            if directory == "" or state.get(directory, ("", 0))[0] == DIR:
                drop_under(directory)
        for path in layer.whiteouts:
            state.pop(path, None)
            drop_under(path)
        for entry in layer.entries:
            parts = entry.path.split("/")
            for depth in range(1, len(parts)):
                ancestor = "/".join(parts[:depth])
                if state.get(ancestor, (None, 0))[0] != DIR:
                    drop_under(ancestor)
                    state[ancestor] = (DIR, index)
            if entry.kind == DIR and state.get(entry.path, (None, 0))[0] == DIR:
                state[entry.path] = (DIR, index)
            else:
                drop_under(entry.path)
                state[entry.path] = (entry.kind, index)
    return state


def observed(fs: Filesystem) -> dict[str, tuple[str, int]]:
    return {path: (entry.kind if entry else DIR, layer) for path, entry, layer in fs.walk()}


@settings(max_examples=400)
@given(layers())
def test_whiteouts_match_the_reference_model(all_layers: list[LayerFacts]) -> None:
    expected = model(all_layers)
    fs = Filesystem.from_layers(all_layers)
    assert observed(fs) == expected
    for path, (_kind, layer) in expected.items():
        found = fs.get(path)
        assert found is not None and found[1] == layer


def link_fs(links: dict[str, str], files: list[str]) -> Filesystem:
    entries = [Entry(p, FILE) for p in files] + [
        Entry(p, SYMLINK, link=t) for p, t in links.items()
    ]
    return Filesystem.from_layers([LayerFacts("l0", entries=entries)])


def test_symlinks_resolve_inside_the_root() -> None:
    fs = link_fs(
        {
            "bin/sh": "busybox",
            "usr/bin/sh": "/bin/sh",
            "lib": "usr/lib",
            "escape": "../../../bin/busybox",
            "etc/os-release": "../usr/lib/os-release",
        },
        ["bin/busybox", "usr/lib/os-release"],
    )
    assert fs.resolve("bin/sh") == "bin/busybox"
    assert fs.resolve("/usr/bin/sh") == "bin/busybox"
    assert fs.resolve("lib/os-release") == "usr/lib/os-release"
    assert fs.resolve("escape") == "bin/busybox"  # '..' stops at the image root
    assert fs.resolve("etc/os-release") == "usr/lib/os-release"
    assert fs.resolve("bin/missing") is None


def test_link_loops_are_bounded() -> None:
    fs = link_fs({"a": "b", "b": "a", "self": "self", "deep/x": "../deep/x"}, [])
    for path in ("a", "self", "deep/x"):
        assert fs.resolve(path) is None


@given(
    st.dictionaries(
        PATHS, PATHS | PATHS.map(lambda p: "/" + p) | PATHS.map(lambda p: "../" + p), max_size=8
    )
)
def test_any_links_resolve_or_give_none_without_escaping(links: dict[str, str]) -> None:
    fs = link_fs(links, [])
    for path in links:
        resolved = fs.resolve(path)
        assert resolved is None or (
            not posixpath.isabs(resolved) and ".." not in resolved.split("/")
        )


def test_entries_under_a_symlinked_directory_land_where_it_points() -> None:
    usrmerge = LayerFacts(
        "l0",
        entries=[
            Entry("usr/bin", DIR),
            Entry("bin", SYMLINK, link="usr/bin"),
            Entry("usr/bin/bash", FILE),
        ],
    )
    later = LayerFacts("l1", entries=[Entry("bin/sh", SYMLINK, link="bash")])
    fs = Filesystem.from_layers([usrmerge, later])
    assert fs.get("bin")[0].kind == SYMLINK  # the link survives
    assert fs.resolve("bin/sh") == "usr/bin/bash"
    assert fs.get("usr/bin/sh") is not None
