"""Edit a buildpacks project descriptor (project.toml) so that the diff is only the new lines.

pack reads different tables per declared schema (research/remediation.md §2.2, pack
``pkg/project``): no ``[_] schema-version`` means 0.1 (``[[build.env]]``, ``[build]
exclude/include/builder``); "0.2" and "0.3" read ``[[io.buildpacks.build.env]]`` and
``[io.buildpacks] exclude/include/builder``. A key written in the other schema's table is
ignored without an error, so every edit goes to the table the declared schema reads, and
nothing is ever written to both.

tomlkit parses and validates, and renders every value written. A whole document is not
written back through tomlkit: after a change it regroups an array of tables that other
tables split, leaves out the blank lines around a table it adds, and glues a new table to
a last line without a newline (``value = "x"[[build.env]]``). So a small scanner finds
headers, statements and value spans, and edits are spliced in as text: a value replaced
in place, an array changed by tomlkit on that array alone (its layout and comments kept),
new keys and tables added at line boundaries in the style of their neighbours. Every
result is parsed again and compared with the intended data: an edit that would change
anything else raises instead.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

ENV_01 = ("build", "env")
ENV_02 = ("io", "buildpacks", "build", "env")
ENV_02_DEPRECATED = ("io", "buildpacks", "env", "build")  # read by 0.2 when ENV_02 is absent
SETTINGS_01 = ("build",)
SETTINGS_02 = ("io", "buildpacks")
VERSIONS = ("0.1", "0.2", "0.3")
NEW_FILE_HEADER = '[_]\nschema-version = "0.2"\n'
_SIMPLE_KEY = re.compile(r"""[ \t]*(?:"([\w-]+)"|'([\w-]+)'|([\w-]+))([ \t]*=[ \t]*)""")


class ProjectTomlError(ValueError):
    pass


def schema_version(text: str) -> str:
    """The schema pack reads the file with: "0.1", "0.2" or "0.3"."""
    return _version(_parse(text))


def env_table(text: str | None) -> str:
    """The dotted name of the array of tables pack takes build env from."""
    if text is None:
        return ".".join(ENV_02)
    data = _parse(text)
    return ".".join(_env_path(data, _version(data)))


def settings_table(text: str | None) -> str:
    """The dotted name of the table pack takes builder, include and exclude from."""
    if text is None:
        return ".".join(SETTINGS_02)
    return ".".join(_settings_path(_version(_parse(text))))


def build_env(text: str) -> dict[str, str]:
    """The build env pack reads from the file (a later entry of a name wins)."""
    data = _parse(text)
    entries = _lookup(data, _env_path(data, _version(data)))
    return {
        str(e["name"]): str(e.get("value", ""))
        for e in entries or ()
        if isinstance(e, dict) and "name" in e
    }


def ignored_keys(text: str) -> tuple[str, ...]:
    """Keys pack skips in this file because they belong to another schema's tables."""
    data = _parse(text)
    version = _version(data)
    ignored: list[str] = []
    if version == "0.1":
        if isinstance(data.get("io"), dict) and "buildpacks" in data["io"]:
            ignored.append("io.buildpacks")
        return tuple(ignored)
    build = data.get("build")
    if isinstance(build, dict):
        ignored.extend(
            f"build.{key}"
            for key in ("env", "exclude", "include", "builder", "buildpacks")
            if key in build
        )
    deprecated = _lookup(data, ENV_02_DEPRECATED)
    if deprecated is not None and _env_path(data, version) != ENV_02_DEPRECATED:
        ignored.append(".".join(ENV_02_DEPRECATED))
    return tuple(ignored)


def set_build_env(text: str | None, name: str, value: str) -> str:
    """The file with build env ``name`` set to ``value`` in the table its schema reads.

    Every entry of that name is updated (pack applies them in order); with none, an entry
    is added after the table's last one. An absent file becomes a schema 0.2 descriptor.
    """
    if text is None:
        return _new_file([_table_header(ENV_02, array=True), *_env_lines(name, value)])
    data = _parse(text)
    path = _env_path(data, _version(data))
    entries = _lookup(data, path)
    expected = copy.deepcopy(data)
    if entries is None:
        _place(expected, path, [{"name": name, "value": value}])
        return _checked(_add_array_of_tables(text, path, name, value), expected)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProjectTomlError(f"{'.'.join(path)} is not an array of tables")
    wanted = _lookup(expected, path)
    matches = [i for i, e in enumerate(entries) if e.get("name") == name]
    if matches and all(entries[i].get("value") == value for i in matches):
        return text
    for i in matches:
        wanted[i]["value"] = value
    if not matches:
        wanted.append({"name": name, "value": value})
    sections = _sections(text)
    tables = [s for s in sections if s.path == path and s.array]
    if not tables:  # an inline array: env = [{ name = …, value = … }]
        return _checked(_edit_inline_env(text, sections, path, name, value), expected)
    if not matches:
        return _checked(_append_to_array_of_tables(text, path, name, value), expected)
    new = text
    for i in reversed(matches):  # from the end, so earlier offsets stay valid
        span = tables[i].values.get("value")
        if span is None:
            indent = tables[i].key_indent if tables[i].key_indent is not None else ""
            new = _insert_lines(new, tables[i].end, [indent + _line("value", value)])
        else:
            new = new[: span[0]] + _render(value) + new[span[1] :]
    return _checked(new, expected)


def add_excludes(text: str | None, patterns: Iterable[str]) -> str:
    """The file with ``patterns`` in the ``exclude`` list its schema reads (no duplicates).

    pack refuses a descriptor with both ``include`` and ``exclude``, so a file with an
    ``include`` allowlist is refused.
    """
    wanted = list(dict.fromkeys(patterns))
    if text is None:
        return _new_file([_table_header(SETTINGS_02), _line("exclude", wanted)])
    data = _parse(text)
    table = _settings_path(_version(data))
    settings = _lookup(data, table)
    if isinstance(settings, dict) and "include" in settings:
        raise ProjectTomlError(
            f"[{'.'.join(table)}] include is set: pack forbids include and exclude together, "
            "so a path is kept out of the build by leaving it out of include"
        )
    current = settings.get("exclude") if isinstance(settings, dict) else None
    if current is not None and not (
        isinstance(current, list) and all(isinstance(p, str) for p in current)
    ):
        raise ProjectTomlError(f"{'.'.join(table)}.exclude is not an array of strings")
    missing = [p for p in wanted if p not in (current or ())]
    if not missing:
        return text
    expected = copy.deepcopy(data)
    if current is None:
        _place(expected, (*table, "exclude"), missing)
        return _checked(_add_key(text, data, table, "exclude", missing), expected)
    _lookup(expected, table)["exclude"].extend(missing)
    span = _value_span(_sections(text), table, "exclude")
    return _checked(_edit_value(text, span, lambda array: array.extend(missing)), expected)


def set_builder(text: str | None, image: str) -> str:
    """The file with the builder image its schema reads set to ``image``."""
    if text is None:
        return _new_file([_table_header(SETTINGS_02), _line("builder", image)])
    data = _parse(text)
    table = _settings_path(_version(data))
    settings = _lookup(data, table)
    current = settings.get("builder") if isinstance(settings, dict) else None
    if current == image:
        return text
    expected = copy.deepcopy(data)
    _place(expected, (*table, "builder"), image)
    if current is None:
        return _checked(_add_key(text, data, table, "builder", image), expected)
    start, end = _value_span(_sections(text), table, "builder")
    return _checked(text[:start] + _render(image) + text[end:], expected)


# -- reading ---------------------------------------------------------------------------------


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomlkit.parse(text).unwrap()
    except TOMLKitError as exc:
        raise ProjectTomlError(f"not valid TOML: {exc}") from None


def _version(data: dict[str, Any]) -> str:
    meta = data.get("_", {})
    if not isinstance(meta, dict):
        raise ProjectTomlError("[_] is not a table")
    version = meta.get("schema-version")
    if version is None:
        return "0.1"
    if version not in VERSIONS:
        raise ProjectTomlError(
            f"schema-version {version!r} is not one pack knows ({', '.join(VERSIONS)})"
        )
    return str(version)


def _env_path(data: dict[str, Any], version: str) -> tuple[str, ...]:
    if version == "0.1":
        return ENV_01
    if (
        version == "0.2"
        and _lookup(data, ENV_02) is None
        and _lookup(data, ENV_02_DEPRECATED) is not None
    ):
        return ENV_02_DEPRECATED  # pack 0.2 falls back to it; a new ENV_02 would hide it
    return ENV_02


def _settings_path(version: str) -> tuple[str, ...]:
    return SETTINGS_01 if version == "0.1" else SETTINGS_02


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _place(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for depth, key in enumerate(path[:-1], 1):
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise ProjectTomlError(f"{'.'.join(path[:depth])} is not a table")
    data[path[-1]] = value


def _checked(new: str, expected: dict[str, Any]) -> str:
    try:
        data = tomlkit.parse(new).unwrap()
    except TOMLKitError as exc:
        raise ProjectTomlError(
            f"the edit would not be valid TOML ({exc}); left unchanged"
        ) from None
    if data != expected:
        raise ProjectTomlError("the edit would change other values; left unchanged")
    return new


# -- writing new lines -----------------------------------------------------------------------


@dataclass
class _Section:
    """A table header (or the top of the file) and the statements under it."""

    path: tuple[str, ...]
    array: bool  # [[…]] rather than […]
    start: int  # offset of the header line (0 for the top of the file)
    end: int  # offset just after the last key/value statement (or the header line)
    indent: str = ""
    key_indent: str | None = None
    separators: dict[str, str] = field(default_factory=dict)  # key → its " = " as written
    values: dict[str, tuple[int, int]] = field(default_factory=dict)  # key → its value's span


def _sections(text: str) -> list[_Section]:
    sections = [_Section((), False, 0, 0)]
    pos = 0
    while pos < len(text):
        line_end = _line_end(text, pos)
        line = text[pos:line_end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            pos = line_end
        elif stripped.startswith("["):
            path, array = _header(line)
            indent = line[: len(line) - len(line.lstrip())]
            sections.append(_Section(path, array, pos, line_end, indent))
            pos = line_end
        else:
            value_end, end = _statement_end(text, pos)
            section = sections[-1]
            section.end = end
            if section.key_indent is None:
                section.key_indent = line[: len(line) - len(line.lstrip())]
            key = _SIMPLE_KEY.match(line)
            if key:
                name = next(k for k in key.group(1, 2, 3) if k is not None)
                section.separators.setdefault(name, key[4])
                section.values.setdefault(name, (pos + key.end(), value_end))
            pos = end
    return sections


def _line_end(text: str, pos: int) -> int:
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1


def _header(line: str) -> tuple[tuple[str, ...], bool]:
    node: Any = tomlkit.parse(line).unwrap()
    path: list[str] = []
    while True:
        [(key, node)] = node.items()
        path.append(key)
        if isinstance(node, list):
            return tuple(path), True
        if not node:
            return tuple(path), False


def _statement_end(text: str, pos: int) -> tuple[int, int]:
    """(end of the value, end of the line) of the key/value statement at ``pos``.

    Arrays and strings may span lines; a trailing comment is not part of the value.
    """
    depth, i, n, last = 0, pos, len(text), pos
    while i < n:
        char = text[i]
        if char == "#":
            i = _line_end(text, i) - 1
            if text[i] != "\n":
                return last, n
            continue
        if char == "\n":
            i += 1
            if depth == 0:
                return last, i
            continue
        if text.startswith(('"""', "'''"), i):
            i = last = _string_end(text, i + 3, text[i : i + 3])
            continue
        if char in "\"'":
            i = last = _string_end(text, i + 1, char)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if not char.isspace():
            last = i + 1
        i += 1
    return last, n


def _string_end(text: str, i: int, quote: str) -> int:
    escapes = quote[0] == '"'
    while i < len(text):
        if escapes and text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            i += len(quote)
            extra = 0  # a multi-line string may end with one or two more quotes
            while len(quote) == 3 and extra < 2 and i < len(text) and text[i] == quote[0]:
                i += 1
                extra += 1
            return i
        else:
            i += 1
    return len(text)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _render(value: Any) -> str:
    return tomlkit.item(value).as_string()


def _line(key: str, value: Any, separator: str = " = ") -> str:
    return f"{key}{separator}{_render(value)}"


def _env_lines(
    name: str, value: str, indent: str = "", separators: dict[str, str] | None = None
) -> list[str]:
    separators = separators or {}
    return [
        indent + _line("name", name, separators.get("name", " = ")),
        indent + _line("value", value, separators.get("value", " = ")),
    ]


def _table_header(path: tuple[str, ...], array: bool = False) -> str:
    name = ".".join(tomlkit.key(k).as_string() for k in path)
    return f"[[{name}]]" if array else f"[{name}]"


def _new_file(lines: list[str]) -> str:
    return NEW_FILE_HEADER + "\n" + "\n".join(lines) + "\n"


def _insert_block(text: str, at: int, lines: list[str]) -> str:
    """Insert whole lines at the line boundary ``at``, set apart by one blank line each side."""
    newline = _newline(text)
    before, after = text[:at], text[at:]
    if before and not before.endswith("\n"):
        before += newline
    block = newline.join(lines) + newline
    if before.strip() and not before.endswith(("\n\n", "\n\r\n")):
        block = newline + block
    if after.strip() and not after.startswith(("\n", "\r\n")):
        block += newline
    return before + block + after


def _insert_lines(text: str, at: int, lines: list[str]) -> str:
    """Insert whole lines at the line boundary ``at``, with no blank lines added."""
    newline = _newline(text)
    before, after = text[:at], text[at:]
    if before and not before.endswith("\n"):
        before += newline
    return before + newline.join(lines) + newline + after


def _under(section: _Section, prefix: tuple[str, ...]) -> bool:
    return section.path[: len(prefix)] == prefix and len(section.path) >= len(prefix)


def _value_span(sections: list[_Section], table: tuple[str, ...], key: str) -> tuple[int, int]:
    for section in sections:
        if section.path == table and not section.array and key in section.values:
            return section.values[key]
    raise ProjectTomlError(
        f"{'.'.join((*table, key))} is not written as a key of a [{'.'.join(table)}] table "
        "(dotted keys); not edited"
    )


def _edit_value(text: str, span: tuple[int, int], change: Callable[[Any], None]) -> str:
    """Change one value with tomlkit, which keeps an array's layout and comments."""
    start, end = span
    holder = tomlkit.parse("x = " + text[start:end])
    change(holder["x"])
    return text[:start] + holder["x"].as_string() + text[end:]


def _edit_inline_env(
    text: str, sections: list[_Section], path: tuple[str, ...], name: str, value: str
) -> str:
    def change(entries: Any) -> None:
        matches = [e for e in entries if e.get("name") == name]
        for entry in matches:
            entry["value"] = value
        if not matches:
            entry = tomlkit.inline_table()
            entry.update({"name": name, "value": value})
            entries.append(entry)

    return _edit_value(text, _value_span(sections, path[:-1], path[-1]), change)


def _append_to_array_of_tables(text: str, path: tuple[str, ...], name: str, value: str) -> str:
    sections = _sections(text)
    last = max(i for i, s in enumerate(sections) if s.path == path and s.array)
    tail = last
    while tail + 1 < len(sections) and _under(sections[tail + 1], path):
        tail += 1
    entry = sections[last]
    key_indent = entry.key_indent if entry.key_indent is not None else entry.indent
    lines = [
        entry.indent + _table_header(path, array=True),
        *_env_lines(name, value, key_indent, entry.separators),
    ]
    return _insert_block(text, sections[tail].end, lines)


def _add_array_of_tables(text: str, path: tuple[str, ...], name: str, value: str) -> str:
    sections = _sections(text)
    for depth in range(len(path) - 1, 0, -1):
        related = [s for s in sections[1:] if _under(s, path[:depth])]
        if related:
            after = related[-1]
            sibling = len(after.path) == len(path)
            indent = after.indent if sibling else ""
            key_indent = after.key_indent if sibling and after.key_indent is not None else indent
            lines = [_table_header(path, array=True), *_env_lines(name, value, key_indent)]
            return _insert_block(text, after.end, [indent + lines[0], *lines[1:]])
    lines = [_table_header(path, array=True), *_env_lines(name, value)]
    return _insert_block(text, len(text), lines)


def _add_key(text: str, data: dict[str, Any], table: tuple[str, ...], key: str, value: Any) -> str:
    sections = _sections(text)
    header = next((s for s in sections if s.path == table and not s.array), None)
    if header is not None:
        indent = header.key_indent if header.key_indent is not None else header.indent
        return _insert_lines(text, header.end, [indent + _line(key, value)])
    existing = _lookup(data, table)
    if existing is None:
        return _insert_block(text, len(text), [_table_header(table), _line(key, value)])
    subtables = {s.path[len(table)] for s in sections if _under(s, table) and s.path != table}
    if not isinstance(existing, dict) or set(existing) - subtables:
        raise ProjectTomlError(
            f"{'.'.join(table)} is not written as a [{'.'.join(table)}] table (dotted keys "
            "or a value); not edited"
        )
    first = next(s for s in sections if _under(s, table))
    return _insert_block(
        text, _above_comments(text, first.start), [_table_header(table), _line(key, value)]
    )


def _above_comments(text: str, start: int) -> int:
    """Move a line boundary up past the comment lines directly above it (they belong below)."""
    while start > 0:
        previous = text.rfind("\n", 0, start - 1) + 1
        if not text[previous:start].strip().startswith("#"):
            break
        start = previous
    return start
