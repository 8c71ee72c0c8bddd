"""project.toml edits: the table each schema reads, layout kept, on the corpus and generated files."""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from app.remediation import project_toml
from app.remediation.project_toml import ProjectTomlError
from tests.conftest import FIXTURES

CORPUS = sorted((FIXTURES / "corpus" / "project-toml").glob("*.toml"))
NAME, VALUE = "GOOGLE_CLEAR_SOURCE", "true"
ENV_LINE = re.compile(
    r'^\s*(\[\[(build|io\.buildpacks\.build)\.env\]\]|name\s*=\s*"GOOGLE_CLEAR_SOURCE"|'
    r'value\s*=\s*"true")?\s*(#.*)?$'
)


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines; a last line that only gained its newline is not a change."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    lines = [line for line in diff if not line.startswith(("+++", "---", "@@"))]
    return [x[1:] for x in lines if x[0] == "-"], [x[1:] for x in lines if x[0] == "+"]


def lookup(data: dict, dotted: str) -> object:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def declared_env_table(text: str) -> str:
    version = tomllib.loads(text).get("_", {}).get("schema-version", "0.1")
    return "build.env" if version == "0.1" else "io.buildpacks.build.env"


# -- the corpus ------------------------------------------------------------------------------


def test_corpus_is_there() -> None:
    assert len(CORPUS) == 9


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name[:40])
def test_corpus_set_build_env(path: Path) -> None:
    before = path.read_text()
    after = project_toml.set_build_env(before, NAME, VALUE)
    data = tomlkit.parse(after).unwrap()
    table = declared_env_table(before)
    assert [e for e in lookup(data, table) if e["name"] == NAME] == [{"name": NAME, "value": VALUE}]
    # nothing else changed: remove the new entry and the data is the original
    original = tomllib.loads(before)
    entries = lookup(data, table)
    entries.remove({"name": NAME, "value": VALUE})
    if not entries:  # the table was created
        parent, _, key = table.rpartition(".")
        del lookup(data, parent)[key]
        while parent and not lookup(data, parent):
            parent, _, key = parent.rpartition(".")
            del (lookup(data, parent) if parent else data)[key]
    assert data == original
    removed, added = changes(before, after)
    assert removed == [] and added and all(ENV_LINE.match(line) for line in added), added
    assert sum(1 for line in added if line.strip().startswith("[[")) == 1
    assert project_toml.set_build_env(after, NAME, VALUE) == after


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name[:40])
def test_corpus_add_excludes(path: Path) -> None:
    before = path.read_text()
    settings = "build" if declared_env_table(before) == "build.env" else "io.buildpacks"
    if "include" in (lookup(tomllib.loads(before), settings) or {}):
        with pytest.raises(ProjectTomlError, match="include"):
            project_toml.add_excludes(before, [".git"])
        return
    after = project_toml.add_excludes(before, [".git", "/.env", "README.md", ".git"])
    data = tomlkit.parse(after).unwrap()
    excluded = lookup(data, f"{settings}.exclude")
    old = lookup(tomllib.loads(before), f"{settings}.exclude") or []
    assert excluded == old + [p for p in (".git", "/.env", "README.md") if p not in old]
    removed, added = changes(before, after)
    # a multi-line array's last element gains a comma; nothing else existing changes
    assert all(line.rstrip(",") + "," in [a.rstrip(",") + "," for a in added] for line in removed)
    assert project_toml.add_excludes(after, [".git", "/.env"]) == after


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name[:40])
def test_corpus_set_builder(path: Path) -> None:
    before = path.read_text()
    image = "paketobuildpacks/builder-jammy-tiny"
    after = project_toml.set_builder(before, image)
    settings = "build" if declared_env_table(before) == "build.env" else "io.buildpacks"
    assert lookup(tomlkit.parse(after).unwrap(), f"{settings}.builder") == image
    removed, added = changes(before, after)
    assert removed == []
    assert [a for a in added if a.strip()] in (
        [f'builder = "{image}"'],
        [f"[{settings}]", f'builder = "{image}"'],
    )
    assert project_toml.set_builder(after, image) == after


# -- behaviours, by hand ---------------------------------------------------------------------


def test_absent_file_becomes_a_schema_02_descriptor() -> None:
    created = project_toml.set_build_env(None, NAME, VALUE)
    assert created == (
        '[_]\nschema-version = "0.2"\n\n[[io.buildpacks.build.env]]\n'
        'name = "GOOGLE_CLEAR_SOURCE"\nvalue = "true"\n'
    )
    assert project_toml.add_excludes(None, [".git"]) == (
        '[_]\nschema-version = "0.2"\n\n[io.buildpacks]\nexclude = [".git"]\n'
    )
    assert project_toml.set_builder(None, "b") == (
        '[_]\nschema-version = "0.2"\n\n[io.buildpacks]\nbuilder = "b"\n'
    )
    assert project_toml.env_table(None) == "io.buildpacks.build.env"


def test_existing_entries_are_updated_not_duplicated() -> None:
    text = (
        '# build settings\n[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"  # why\n'
        'value = "false"   # was off\n\n[[build.env]]\nname = "A"\nvalue = "1"\n\n'
        '[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = "0"\n'
    )
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert after == text.replace('"false"', '"true"').replace('"0"', '"true"')
    assert project_toml.build_env(after) == {NAME: "true", "A": "1"}


@pytest.mark.parametrize("version", ["0.2", "0.3"])
def test_schema_02_and_03_write_io_buildpacks_tables(version: str) -> None:
    text = f'[_]\nschema-version = "{version}"\n\n[[io.buildpacks.group]]\nid = "x"\n'
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert (
        after
        == text + '\n[[io.buildpacks.build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = "true"\n'
    )
    assert project_toml.schema_version(text) == version


def test_mis_keyed_02_file_gets_the_02_table_and_says_what_pack_ignores() -> None:
    text = (
        FIXTURES / "corpus/project-toml/2004-maste__globe-news-backend__project.toml"
    ).read_text()
    after = project_toml.set_build_env(text, NAME, VALUE)
    data = tomllib.loads(after)
    assert data["io"]["buildpacks"]["build"]["env"] == [{"name": NAME, "value": VALUE}]
    assert NAME not in str(data["build"])
    assert project_toml.ignored_keys(text) == ("build.env",)
    assert project_toml.build_env(text) == {}  # what pack reads from that file today


def test_schema_01_ignores_io_buildpacks_keys() -> None:
    text = '[io.buildpacks]\nbuilder = "x"\n'
    assert project_toml.ignored_keys(text) == ("io.buildpacks",)
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert tomllib.loads(after)["build"]["env"] == [{"name": NAME, "value": VALUE}]


def test_deprecated_02_env_table_is_kept_when_it_is_the_one_pack_reads() -> None:
    text = '[_]\nschema-version = "0.2"\n\n[[io.buildpacks.env.build]]\nname = "A"\nvalue = "1"\n'
    after = project_toml.set_build_env(text, NAME, VALUE)
    # pack 0.2 reads io.buildpacks.env.build only while io.buildpacks.build.env is absent
    assert tomllib.loads(after)["io"]["buildpacks"] == {
        "env": {"build": [{"name": "A", "value": "1"}, {"name": NAME, "value": VALUE}]}
    }
    both = after + '\n[[io.buildpacks.build.env]]\nname = "B"\nvalue = "2"\n'
    assert project_toml.ignored_keys(both) == ("io.buildpacks.env.build",)
    assert project_toml.build_env(both) == {"B": "2"}


@pytest.mark.parametrize(
    "text",
    ['[_]\nschema-version = "0.4"\n', "[_]\nschema-version = 0.2\n", '_ = "x"\n'],
)
def test_unknown_schema_is_an_error_not_a_guess(text: str) -> None:
    with pytest.raises(ProjectTomlError):
        project_toml.set_build_env(text, NAME, VALUE)


@pytest.mark.parametrize(
    "text", ['[build\nexclude = ["a"]\n', "[[build.env]]\nname = \n", "a = 1\na = 2\n"]
)
def test_syntax_errors_are_refused(text: str) -> None:
    for change in (
        lambda: project_toml.set_build_env(text, NAME, VALUE),
        lambda: project_toml.add_excludes(text, [".git"]),
        lambda: project_toml.set_builder(text, "b"),
    ):
        with pytest.raises(ProjectTomlError, match="not valid TOML"):
            change()


def test_include_refuses_excludes_in_the_table_the_schema_reads() -> None:
    with pytest.raises(ProjectTomlError, match="pack forbids include and exclude together"):
        project_toml.add_excludes('[build]\ninclude = ["/src"]\n', [".git"])
    # a 0.2 file's [build] include is ignored by pack, so it does not block [io.buildpacks]
    text = '[_]\nschema-version = "0.2"\n\n[build]\ninclude = ["/src"]\n'
    after = project_toml.add_excludes(text, [".git"])
    assert tomllib.loads(after)["io"]["buildpacks"]["exclude"] == [".git"]
    assert project_toml.ignored_keys(text) == ("build.include",)


def test_new_table_goes_above_the_comment_of_its_first_subtable() -> None:
    text = '[project]\nid = "x"\n\n# env for the build\n[[build.env]]\nname = "A"\nvalue = "1"\n'
    after = project_toml.add_excludes(text, [".git"])
    assert after == (
        '[project]\nid = "x"\n\n[build]\nexclude = [".git"]\n\n# env for the build\n'
        '[[build.env]]\nname = "A"\nvalue = "1"\n'
    )


def test_new_entry_follows_its_siblings_style_and_comments_stay_below() -> None:
    text = (
        '[build]\n  [[build.env]]\n    name  = "A"  # first\n    value = "1"\n\n'
        '# buildpacks\n[[build.buildpacks]]\nid = "x"\n'
    )
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert after == text.replace(
        '    value = "1"\n',
        '    value = "1"\n\n  [[build.env]]\n    name  = "GOOGLE_CLEAR_SOURCE"\n    value = "true"\n',
    )


def test_crlf_and_missing_final_newline() -> None:
    text = '[[build.env]]\r\nname = "A"\r\nvalue = "1"'
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert (
        after
        == text + '\r\n\r\n[[build.env]]\r\nname = "GOOGLE_CLEAR_SOURCE"\r\nvalue = "true"\r\n'
    )


def test_multiline_strings_and_arrays_do_not_look_like_headers() -> None:
    text = (
        '[build]\nexclude = [\n  "a",\n  # [x]\n]\n\n[[build.env]]\nname = "A"\n'
        'value = \'\'\'\n[[build.env]]\nname = "fake"\'\'\'\n\n[metadata]\nx = """\n[y]""""\n'
    )
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert tomllib.loads(after)["build"]["env"][-1] == {"name": NAME, "value": VALUE}
    assert after.index('[[build.env]]\nname = "GOOGLE') < after.index("[metadata]")
    after = project_toml.add_excludes(text, [".git"])
    assert tomllib.loads(after)["build"]["exclude"] == ["a", ".git"]


def test_inline_env_array_is_appended_to() -> None:
    text = '[build]\nenv = [{ name = "A", value = "1" }]\n'
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert (
        after
        == '[build]\nenv = [{ name = "A", value = "1" }, {name = "GOOGLE_CLEAR_SOURCE", value = "true"}]\n'
    )


def test_inline_and_unusual_entries_are_updated_in_place() -> None:
    text = '[build]\nenv = [\n  { name = "GOOGLE_CLEAR_SOURCE", value = "0" },  # off\n]\n'
    assert project_toml.set_build_env(text, NAME, VALUE) == text.replace('"0"', '"true"')
    text = '[[build.env]]\n"name" = "GOOGLE_CLEAR_SOURCE"\n\'value\' = "no"\n'
    assert project_toml.set_build_env(text, NAME, VALUE) == text.replace('"no"', '"true"')
    text = '[[build.env]]\n  name = "GOOGLE_CLEAR_SOURCE"\n\n[project]\nid = "x"\n'
    assert project_toml.set_build_env(text, NAME, VALUE) == text.replace(
        '"GOOGLE_CLEAR_SOURCE"\n', '"GOOGLE_CLEAR_SOURCE"\n  value = "true"\n'
    )


def test_shapes_pack_cannot_read_are_refused() -> None:
    with pytest.raises(ProjectTomlError, match="not an array of tables"):
        project_toml.set_build_env('[build]\nenv = "A=1"\n', NAME, VALUE)
    with pytest.raises(ProjectTomlError, match="not a table"):
        project_toml.set_build_env('build = "x"\n', NAME, VALUE)
    with pytest.raises(ProjectTomlError, match="not written as a \\[build\\] table"):
        project_toml.add_excludes('build.builder = "x"\n', [".git"])
    with pytest.raises(ProjectTomlError, match="not an array of strings"):
        project_toml.add_excludes('[build]\nexclude = ".git"\n', [".git"])


def test_interleaved_tables_stay_where_they_are() -> None:
    # tomlkit regroups an array of tables split by other tables when it writes a document
    text = (
        '[[build.env]]\nname = "A"\nvalue = ""\n\n[[build.buildpacks]]\nid = "x"\n\n'
        '[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = ""\n\n[build]\nexclude = ["a"] # keep\n'
    )
    after = project_toml.set_build_env(text, NAME, VALUE)
    assert after == text.replace('value = ""\n\n[build]', 'value = "true"\n\n[build]')
    after = project_toml.add_excludes(text, [".git"])
    assert after == text.replace('["a"] # keep', '["a", ".git"] # keep')


def test_builder_is_replaced_in_place() -> None:
    text = '[_]\nschema-version = "0.2"\n[io.buildpacks]\nbuilder = "paketobuildpacks/builder-jammy-base"  # base\n'
    after = project_toml.set_builder(text, "tiny")
    assert after == text.replace('"paketobuildpacks/builder-jammy-base"', '"tiny"')


# -- generated descriptors -------------------------------------------------------------------

_words = st.text(alphabet="abcdefghij XYZ_-.#[]=\"'", min_size=0, max_size=12)
_names = st.sampled_from(["A", "BP_X", "GOOGLE_RUNTIME", NAME, "NODE_ENV"])
_values = st.text(alphabet="abc019 =./\\\"'#[]", max_size=10)


@st.composite
def descriptors(draw: st.DrawFn) -> tuple[str, str]:
    """A valid project.toml of either schema, and the dotted env table that schema reads."""
    version = draw(st.sampled_from([None, "0.1", "0.2", "0.3"]))
    env = "build.env" if version in (None, "0.1") else "io.buildpacks.build.env"
    other = "io.buildpacks.build.env" if env == "build.env" else "build.env"
    settings = "build" if env == "build.env" else "io.buildpacks"
    indent = draw(st.sampled_from(["", "  ", "\t"]))

    def comment() -> str:
        return f"# {draw(_words)}".rstrip() if draw(st.booleans()) else ""

    def kv(key: str, value: object) -> str:
        trailer = f"  # {draw(_words)}" if draw(st.booleans()) else ""
        separator = draw(st.sampled_from([" = ", "=", "  =  "]))
        return f"{indent}{key}{separator}{tomlkit.item(value).as_string()}{trailer}"

    blocks: list[list[str]] = []
    for _ in range(draw(st.integers(0, 4))):
        blocks.append([f"[[{env}]]", kv("name", draw(_names)), kv("value", draw(_values))])
    for _ in range(draw(st.integers(0, 2))):
        blocks.append([f"[[{other}]]", kv("name", draw(_names)), kv("value", draw(_values))])
    if draw(st.booleans()):
        blocks.append(["[project]", kv("id", draw(_words)), kv("version", "1.0.0")])
    if draw(st.booleans()):
        patterns = draw(st.lists(_words, max_size=3))
        multiline = "[\n" + "".join(f"  {tomlkit.item(p).as_string()},\n" for p in patterns) + "]"
        array = multiline if draw(st.booleans()) else tomlkit.item(patterns).as_string()
        blocks.append([f"[{settings}]", f"{indent}exclude = {array}"])
    if draw(st.booleans()):
        group = "build.buildpacks" if settings == "build" else "io.buildpacks.group"
        blocks.append([f"[[{group}]]", kv("id", draw(_words))])
    if draw(st.booleans()):
        blocks.append(["[metadata]", kv("note", draw(_values)), kv("list", [1, 2])])
    blocks = draw(st.permutations(blocks))
    if version is not None:
        blocks.insert(0, ["[_]", kv("schema-version", version)])
    lines: list[str] = [comment()]
    for block in blocks:
        lines += [comment(), *block, *([""] * draw(st.integers(0, 2)))]
    text = "\n".join(line for line in lines if line is not None)
    if draw(st.booleans()):
        text += "\n"
    return text, env


@given(descriptors())
def test_generated_descriptors_keep_everything_else(case: tuple[str, str]) -> None:
    text, table = case
    before = tomllib.loads(text)
    after_text = project_toml.set_build_env(text, NAME, VALUE)
    after = tomlkit.parse(after_text).unwrap()
    assert tomllib.loads(after_text) == after
    expected = copy.deepcopy(before)
    entries = lookup(expected, table)
    if entries is None:
        node = expected
        for key in table.split(".")[:-1]:
            node = node.setdefault(key, {})
        node["env"] = [{"name": NAME, "value": VALUE}]
    elif any(e["name"] == NAME for e in entries):
        for entry in entries:
            if entry["name"] == NAME:
                entry["value"] = VALUE
    else:
        entries.append({"name": NAME, "value": VALUE})
    assert after == expected
    assert project_toml.build_env(after_text)[NAME] == VALUE
    removed, added = changes(text, after_text)
    assert all(re.match(r"^\s*value\s*=", line) for line in removed), removed
    assert all(ENV_LINE.match(line) for line in added), added
    assert project_toml.set_build_env(after_text, NAME, VALUE) == after_text
