"""The Gradle script scanner and editor: braces in strings and comments, every edit shape."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.remediation import gradle_script
from app.remediation.gradle_script import parse, set_value

USER = ["jib", "container", "user"]


def test_assignment_literal_is_replaced_in_its_own_quotes() -> None:
    text = 'jib {\n  container {\n    user = "root"  // was root\n  }\n}\n'
    edit = set_value(text, False, USER, "65532:65532")
    assert edit.text == text.replace('"root"', '"65532:65532"')


def test_groovy_command_form_and_kotlin_setter() -> None:
    groovy = "jib {\n    container {\n        user 'root'\n    }\n}\n"
    assert set_value(groovy, False, USER, "1:1").text == groovy.replace("'root'", "'1:1'")
    kotlin = 'jib {\n    container {\n        user.set("root")\n    }\n}\n'
    assert set_value(kotlin, True, USER, "1:1").text == kotlin.replace('"root"', '"1:1"')


@pytest.mark.parametrize(
    "value",
    [
        "userFromSomewhere",
        "project.ext['runAs']",
        '"${uid}:${gid}"',
        "project.provider { 'root' }",
        "'root' + suffix",
    ],
)
def test_non_literal_values_are_refused(value: str) -> None:
    text = f"jib.container.user = {value}\n"
    edit = set_value(text, False, USER, "1:1")
    assert edit.text is None
    assert (
        "line 1 sets jib.container.user from" in edit.reason and "not a plain string" in edit.reason
    )


def test_missing_assignment_goes_into_the_innermost_block_with_its_indentation() -> None:
    text = "jib {\n\tcontainer {\n\t\tports = ['8080']\n\t}\n}\n"
    assert set_value(text, False, USER, "1:1").text == (
        "jib {\n\tcontainer {\n\t\tports = ['8080']\n\t\tuser = '1:1'\n\t}\n}\n"
    )
    text = "jib {\n  to {\n    image = 'x'\n  }\n}\n"
    assert set_value(text, True, USER, "1:1").text == (
        "jib {\n  to {\n    image = 'x'\n  }\n  container {\n    user = \"1:1\"\n  }\n}\n"
    )


def test_one_line_and_empty_blocks_get_the_setting_on_their_line() -> None:
    assert set_value("jib { container { ports = ['1'] } }\n", False, USER, "1").text == (
        "jib { container { ports = ['1']; user = '1' } }\n"
    )
    assert set_value("jib {}\n", True, USER, "1").text == 'jib { container { user = "1" } }\n'


def test_dotted_files_get_a_dotted_line_and_empty_files_a_block() -> None:
    text = "jib.to.image = 'a'\r\njib.container.ports = ['1',\r\n  '2']\r\nrepositories {}\r\n"
    assert set_value(text, False, USER, "1").text == text.replace(
        "'2']\r\n", "'2']\r\njib.container.user = '1'\r\n"
    )
    assert set_value("", True, USER, "1").text == (
        'jib {\n    container {\n        user = "1"\n    }\n}\n'
    )


def test_dotted_assignment_inside_the_block_counts() -> None:
    text = "jib {\n  container.user = 'root'\n}\n"
    assert set_value(text, False, USER, "1").text == text.replace("'root'", "'1'")


def test_values_are_escaped_for_the_quote() -> None:
    text = 'jib.container.user = "x"\n'
    assert set_value(text, True, USER, 'a"$b').text == 'jib.container.user = "a\\"\\$b"\n'


def test_settings_in_tasks_or_closures_are_not_the_extension() -> None:
    text = "tasks.register('x') {\n  jib.container.user = 'root'\n}\n"
    edited = set_value(text, False, USER, "1").text
    assert edited is not None and "'root'" in edited and edited.endswith("user = '1'\n    }\n}\n")


def test_within_limits_the_edit_to_project_scopes() -> None:
    text = "jib {\n}\nsubprojects {\n    jib {\n        to.image = 'x'\n    }\n}\n"
    edited = set_value(text, False, USER, "1", within=["subprojects"]).text
    assert edited == text.replace(
        "'x'\n", "'x'\n        container {\n            user = '1'\n        }\n"
    )
    refused = set_value("jib {\n}\n", False, USER, "1", within=["subprojects"])
    assert refused.text is None and "subprojects" in refused.reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jib {\n", "unbalanced '{' at line 1"),
        ("}\n", "unbalanced '}' at line 1"),
        ("x = 'abc\n", "unterminated string at line 1"),
        ("/* never closed", "unterminated /* comment"),
        ('x = "${ a\n', "unterminated"),
    ],
)
def test_unreadable_scripts_are_refused(text: str, message: str) -> None:
    edit = set_value(text, False, USER, "1")
    assert edit.text is None and message in edit.reason


def test_braces_in_strings_comments_and_interpolation_are_not_blocks() -> None:
    text = (
        "// jib {\n"
        "/* } { */\n"
        'def s = "${ [1].collect { "}" } }" + \'{\' + """ { """ + \'\'\'}\'\'\'\n'
        "jib { /* } */ container { } }\n"
    )
    script = parse(text, False)
    assert [(b.name, b.scope) for b in script.blocks] == [
        ("jib", ()),
        ("container", ("jib",)),
    ]


def test_kotlin_block_comments_nest_and_raw_strings_have_no_escapes() -> None:
    text = '/* a /* { */ } */\nval s = """\\"""\njib { }\n'
    assert [b.name for b in parse(text, True).blocks] == ["jib"]
    with pytest.raises(gradle_script.ScriptError):
        parse(text, False)  # in Groovy the first */ closes the comment and leaves a stray }


def test_block_names_skip_arguments_and_type_arguments() -> None:
    text = (
        'tasks.named<BootBuildImage>("bootBuildImage") { }\n'
        "configure(subprojects.findAll { it.name != 'x' }) { }\n"
        "if (a > b) { }\n"
        "list.forEach { x -> }\n"
    )
    names = [b.name for b in parse(text, True).blocks]
    assert names == ["tasks.named", "subprojects.findAll", "configure", "if", "list.forEach"]


def test_named_arguments_on_their_own_line_are_not_statements() -> None:
    text = 'jib {\n    container {\n        foo(\n            user = "root"\n        )\n    }\n}\n'
    assert parse(text, True).assignments(USER) == []


def test_plugins_are_found_with_their_scope_and_apply_false_is_skipped() -> None:
    text = (
        "plugins {\n"
        "    id 'java'\n"
        "    id 'com.google.cloud.tools.jib' version '3.5.4' apply false\n"
        "    alias(libs.plugins.boot)\n"
        "}\n"
        "// apply plugin: 'war'\n"
        "subprojects {\n"
        "    apply plugin: 'com.google.cloud.tools.jib'\n"
        "}\n"
    )
    found = [(p.id, p.scope) for p in parse(text, False).plugins()]
    assert sorted(found) == [
        ("alias:libs.plugins.boot", ("plugins",)),
        ("com.google.cloud.tools.jib", ("subprojects",)),
        ("java", ("plugins",)),
    ]


# --- property test: generated nesting, with braces hidden in strings and comments ---------


@dataclass
class Node:
    name: str
    children: list[Node | str]  # a nested block, or a noise snippet


NOISE = st.sampled_from(
    [
        "// } {",
        "/* { } */",
        "x = '}'",
        'y = "{"',
        'z = "${ m.get("}") } and ${ [1].collect { it } }"',
        "w = '''\n { \n'''",
        'v = """\n } ${ "{" } \n"""',
        'u = "\\"{"',
        "call(1) // { comment",
    ]
)
NAMES = st.sampled_from(["jib", "container", "from", "subprojects", "to", "tasks.named", "a1"])
NODES = st.recursive(
    st.builds(Node, NAMES, st.lists(NOISE, max_size=2)),
    lambda inner: st.builds(Node, NAMES, st.lists(st.one_of(inner, NOISE), max_size=4)),
    max_leaves=12,
)


def render(
    node: Node,
    depth: int,
    out: list[str],
    expected: list[tuple[str, tuple[str, ...]]],
    scope: tuple[str, ...],
) -> None:
    indent = "  " * depth
    header = f"{node.name}('arg {{') {{" if node.name == "tasks.named" else f"{node.name} {{"
    out.append(indent + header)
    expected.append((node.name, scope))
    for child in node.children:
        if isinstance(child, Node):
            render(child, depth + 1, out, expected, (*scope, node.name))
        else:
            out.append(indent + "  " + child)
    out.append(indent + "}")


@given(st.lists(NODES, min_size=1, max_size=3))
def test_blocks_found_are_exactly_the_generated_ones(roots: list[Node]) -> None:
    lines: list[str] = []
    expected: list[tuple[str, tuple[str, ...]]] = []
    for root in roots:
        render(root, 0, lines, expected, ())
    text = "\n".join(lines) + "\n"
    found = [(b.name, b.scope) for b in parse(text, False).blocks]
    assert found == expected
    kotlin_found = [(b.name, b.scope) for b in parse(text.replace("'''", '"""'), True).blocks]
    assert kotlin_found == expected


def test_new_blocks_use_the_surrounding_indentation_step() -> None:
    text = "/**\n * doc\n */\njib {\n   to {\n      image = 'x'\n   }\n}\n"
    assert set_value(text, False, USER, "1").text == text.replace(
        "   }\n}", "   }\n   container {\n      user = '1'\n   }\n}"
    )
    empty = "/**\n * doc\n */\nplugins {\n  id 'java'\n}\njib {\n}\n"
    assert set_value(empty, False, USER, "1").text == empty.replace(
        "jib {\n}", "jib {\n  container {\n    user = '1'\n  }\n}"
    )


def test_a_groovy_block_comment_ends_at_the_first_close() -> None:
    text = "/* a comment //*/\njib { }\n"
    assert [b.name for b in parse(text, False).blocks] == ["jib"]


def test_configure_with_the_jib_extension_type_is_the_jib_block() -> None:
    text = (
        'configure<JibExtension> {\n    container {\n        user = "root"\n    }\n}\n'
        'configure<com.google.cloud.tools.jib.gradle.JibExtension> { to.image = "x" }\n'
        'configure<OtherExtension> { container { user = "other" } }\n'
    )
    script = parse(text, True)
    assert [script.line(s.start) for s in script.assignments(USER)] == [3]
    assert [script.line(b.open) for b in script.blocks_at(["jib"])] == [1, 6]


# --- bounded input: big and deep scripts are read in near-linear time, or refused ------------

FLAT_TASK = (
    "tasks.register('task{i}') {{\n"
    "    group = 'generated'\n"
    '    doLast {{ println "task {i} of ${{project.name}}" }}\n'
    "}}\n"
)


@pytest.mark.timeout(20)
def test_a_4_mb_flat_script_is_edited() -> None:
    count = 2_000_000 // len(FLAT_TASK.format(i=0)) + 1
    tasks = "".join(FLAT_TASK.format(i=i) for i in range(count))
    text = tasks + "jib {\n    to.image = 'x'\n}\n" + tasks
    assert len(text) > 4_000_000
    edit = set_value(text, False, USER, "1")
    assert edit.text == text.replace(
        "to.image = 'x'\n", "to.image = 'x'\n    container {\n        user = '1'\n    }\n"
    )


@pytest.mark.timeout(20)
def test_deep_nesting_is_read_up_to_a_limit_then_refused_without_recursion() -> None:
    depth = gradle_script.MAX_DEPTH
    deep = "if (a) {\n" * (depth - 2) + "jib {\n" + "}\n" * (depth - 1)  # container: 500th
    edit = set_value(deep, True, USER, "1")
    assert edit.text is not None
    assert [b.name for b in parse(edit.text, True).blocks[-2:]] == ["jib", "container"]
    too_deep = "jib {\n" * 5000 + "}\n" * 5000
    edit = set_value(too_deep, False, USER, "1")
    assert edit.text is None
    assert edit.reason == (
        f"cannot read the script safely: blocks nested more than {depth} deep at line {depth + 1}"
    )
    with pytest.raises(gradle_script.ScriptError, match="blocks nested more than"):
        parse(too_deep, True)


@pytest.mark.timeout(20)
def test_deep_interpolation_parentheses_and_comments_do_not_recurse() -> None:
    strings = "x = " + '"${ ' * 5000 + '"a"' + ' }"' * 5000 + "\n"
    [literal] = parse(strings, False).literals.values()
    assert literal.interpolated and literal.end == len(strings) - 1
    parens = "x = " + "(" * 5000 + ")" * 5000 + "\njib { }\n"
    assert [b.name for b in parse(parens, True).blocks] == ["jib"]
    comments = "/*" * 5000 + "*/" * 5000 + "\njib { }\n"
    assert [b.name for b in parse(comments, True).blocks] == ["jib"]
