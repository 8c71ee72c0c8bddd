"""Google Cloud buildpacks: GOOGLE_CLEAR_SOURCE where a buildpack honours it, excludes elsewhere."""

from __future__ import annotations

import tomllib

import pytest

from app.remediation import gcp_buildpacks
from app.remediation.base import FixResult
from tests.conftest import FIXTURES
from tests.remediation.support import context, finding

CORPUS = FIXTURES / "corpus" / "project-toml"
GOLDEN = FIXTURES / "golden" / "gcp-buildpacks"
GO = {"go.mod": "module example.com/app\n", "main.go": "package main\n\nfunc main() {}\n"}
SOURCE = ("source-code", "build-files", "vcs-directory")
# The app and the findings each golden project.toml was produced for.
GOLDEN_CASES = {
    "2004-maste__globe-news-backend__project.toml": (GO, ("source-code", "build-files")),
    "AsadHasan__express-mongo-kubernetes__project.toml": (
        {"package.json": "{}"},
        (
            finding("vcs-directory", "workspace/.git"),
            finding("secret-file", "workspace/config/service-account.json"),
        ),
    ),
}


def fix(files: dict[str, str], *rules: object, root: str = "") -> FixResult:
    ctx = context(files, *rules, kind="gcp-buildpacks", tool="lifecycle", root=root)
    assert gcp_buildpacks.applies(ctx)
    return gcp_buildpacks.fix(ctx)


def outcome(result: FixResult, rule: str) -> tuple[bool, str]:
    [found] = [o for o in result.outcomes if rule in o.rules]
    return found.done, found.detail


def written(result: FixResult, path: str = "project.toml") -> dict:
    [edit] = [e for e in result.edits if e.path == path]
    return tomllib.loads(edit.new)


def test_applies_only_to_google_builds() -> None:
    assert not gcp_buildpacks.applies(context(GO, "source-code", kind="paketo", tool="lifecycle"))
    assert fix(GO, "root-user") == FixResult()


@pytest.mark.parametrize(
    ("files", "label"),
    [
        (GO, "Go"),
        ({"pom.xml": "<project/>", "src/main/java/A.java": "class A {}"}, "Java"),
        ({"build.gradle.kts": "plugins {}"}, "Java"),
        ({"CMakeLists.txt": "project(x)", "main.cc": ""}, "C++"),
    ],
)
def test_compiled_apps_clear_their_source(files: dict[str, str], label: str) -> None:
    result = fix(files, *SOURCE)
    [edit] = result.edits
    assert edit.path == "project.toml" and edit.old is None
    assert edit.new == (
        '[_]\nschema-version = "0.2"\n\n[[io.buildpacks.build.env]]\n'
        'name = "GOOGLE_CLEAR_SOURCE"\nvalue = "true"\n'
    )
    [only] = result.outcomes
    assert only.rules == SOURCE and only.done
    assert only.detail.startswith("project.toml: GOOGLE_CLEAR_SOURCE=true in [[io.buildpacks")
    assert f"Google's {label} buildpack" in only.detail


def test_existing_schema_01_file_gets_the_entry_in_build_env() -> None:
    text = (
        CORPUS / "GoogleContainerTools__skaffold__examples_buildpacks-node_project.toml"
    ).read_text()
    result = fix({**GO, "project.toml": text}, "source-code")
    assert written(result)["build"]["env"][-1] == {"name": "GOOGLE_CLEAR_SOURCE", "value": "true"}
    assert result.edits[0].old == text


def test_subdirectory_builds_read_and_write_there() -> None:
    files = {f"svc/{k}": v for k, v in GO.items()} | {"package.json": "{}"}
    result = fix(files, "source-code", root="svc")
    [edit] = result.edits
    assert edit.path == "svc/project.toml"
    assert outcome(result, "source-code")[1].startswith("svc/project.toml: ")


def test_go_app_reading_templates_from_the_tree_is_not_cleared() -> None:
    files = {
        **GO,
        "templates/index.html": "<p>{{.}}</p>",
        "static/app.css": "",
        "vendor/x/page.html": "",
    }
    result = fix(files, "source-code", "build-files", finding("vcs-directory", "workspace/.git"))
    done, detail = outcome(result, "source-code")
    assert not done and outcome(result, "build-files") == (done, detail)
    assert "static/app.css, templates/index.html" in detail and "//go:embed" in detail
    assert "vendor" not in detail
    # .git is still kept out, by exclusion instead
    done, detail = outcome(result, "vcs-directory")
    assert done and "[io.buildpacks] exclude" in detail
    assert written(result)["io"]["buildpacks"] == {"exclude": [".git"]}


def test_go_app_embedding_its_files_is_cleared() -> None:
    files = {
        **GO,
        "main.go": 'package main\n\nimport "embed"\n\n//go:embed templates/*.html "static"\n'
        "var files embed.FS\n",
        "templates/index.html": "",
        "static/css/app.css": "",
        "web/handlers.go": "package web\n",
    }
    result = fix(files, "source-code")
    assert outcome(result, "source-code")[0]
    assert written(result)["io"]["buildpacks"]["build"]["env"][0]["name"] == "GOOGLE_CLEAR_SOURCE"


@pytest.mark.parametrize(
    ("directive", "cleared"),
    [
        ("//go:embed assets", False),  # _partial.html is left out of a directory embed
        ("//go:embed all:assets", True),
        ("//go:embed assets/*", True),  # a glob names files, '_' included
        ("//go:embed assets/*.css", False),
    ],
)
def test_go_embed_rules(directive: str, cleared: bool) -> None:
    files = {
        "go.mod": "module m\n",
        "cmd/server/main.go": f"package main\n\n{directive.replace('assets', '../../assets')}\n"
        "var fs embed.FS\n",
        "assets/_partial.html": "",
    }
    done, detail = outcome(fix(files, "source-code"), "source-code")
    assert done is cleared, detail


def test_java_without_maven_or_gradle_is_explained() -> None:
    toml = '[[build.env]]\nname = "GOOGLE_RUNTIME"\nvalue = "java17"\n'
    result = fix({"project.toml": toml, "app.jar": ""}, "source-code", "build-files")
    done, detail = outcome(result, "source-code")
    assert not done and result.edits == ()
    assert "GOOGLE_RUNTIME=java17" in detail and "only for Maven and Gradle projects" in detail


def test_google_runtime_wins_over_marker_files() -> None:
    toml = '[[build.env]]\nname = "GOOGLE_RUNTIME"\nvalue = "nodejs20"\n'
    done, detail = outcome(fix({**GO, "project.toml": toml}, "source-code"), "source-code")
    assert not done and "the Node.js app (GOOGLE_RUNTIME=nodejs20)" in detail


def test_interpreted_app_keeps_sources_and_excludes_git_and_secrets() -> None:
    files = {"package.json": "{}", "server.js": ""}
    result = fix(
        files,
        "source-code",
        finding("vcs-directory", "workspace/.git"),
        finding("vcs-directory", "workspace/vendor/lib/.hg"),
        finding("secret-file", "workspace/.env"),
        finding("secret-file", "workspace/keys/sa.json"),
    )
    done, detail = outcome(result, "source-code")
    assert not done and "runs from its sources" in detail and "package.json" in detail
    assert written(result)["io"]["buildpacks"]["exclude"] == [
        ".git",
        ".hg",
        "/.env",
        "/keys/sa.json",
    ]
    assert outcome(result, "vcs-directory") == (
        True,
        "project.toml: .git, .hg in [io.buildpacks] exclude: pack leaves excluded files out of "
        "/workspace, so the repository metadata no longer reaches the image",
    )
    assert outcome(result, "secret-file")[0]


def test_secret_outside_the_app_directory_cannot_be_excluded() -> None:
    result = fix(
        {"requirements.txt": ""},
        finding("secret-file", "home/cnb/.npmrc"),
        finding("secret-file", "workspace/.pypirc"),
    )
    done, detail = outcome(result, "secret-file")
    assert not done
    assert "/.pypirc in [io.buildpacks] exclude" in detail
    assert "/home/cnb/.npmrc is outside /workspace" in detail
    assert written(result)["io"]["buildpacks"]["exclude"] == ["/.pypirc"]


def test_include_allowlist_is_explained_not_edited() -> None:
    text = (CORPUS / "Balazs23__hello-birthday__project.toml").read_text()
    result = fix(
        {"requirements.txt": "", "project.toml": text},
        finding("vcs-directory", "workspace/.git"),
        "secret-file",  # no path: the allowlist is still what blocks exclusion
    )
    assert result.edits == ()
    for rule in ("vcs-directory", "secret-file"):
        done, detail = outcome(result, rule)
        assert not done and "[build] include is set" in detail


def test_malformed_project_toml_is_refused_for_every_rule() -> None:
    result = fix({**GO, "project.toml": "[[build.env]\nname = 1\n"}, "source-code", "secret-file")
    assert result.edits == ()
    [only] = result.outcomes
    assert only.rules == ("secret-file", "source-code") and not only.done
    assert only.detail.startswith("project.toml: not valid TOML")


def test_env_pack_cannot_read_is_refused() -> None:
    result = fix({**GO, "project.toml": '[build]\nenv = "GOOGLE_CLEAR_SOURCE=true"\n'}, *SOURCE)
    assert result.edits == ()
    [only] = result.outcomes
    assert only.rules == SOURCE and not only.done
    assert only.detail == "project.toml: left unchanged: build.env is not an array of tables"


def test_mis_keyed_02_file_is_noted() -> None:
    text = (CORPUS / "2004-maste__globe-news-backend__project.toml").read_text()
    result = fix({**GO, "project.toml": text}, "source-code")
    done, detail = outcome(result, "source-code")
    assert done and "[[io.buildpacks.build.env]]" in detail
    assert "pack reads this file as schema 0.2 and ignores its build.env" in detail


def test_clear_source_already_set_is_explained_not_claimed() -> None:
    text = '[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = "True"\n'
    result = fix({**GO, "project.toml": text}, "source-code", "build-files")
    assert result.edits == () and result.fixed == ()
    done, detail = outcome(result, "source-code")
    assert not done and outcome(result, "build-files") == (done, detail)
    assert detail.startswith("project.toml already sets GOOGLE_CLEAR_SOURCE=True, yet the image")
    assert "--set-build-env-vars" in detail and "GOOGLE_DEVMODE=true" in detail


def test_clear_source_already_set_still_excludes_git() -> None:
    text = '[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = "1"\n'
    result = fix(
        {**GO, "project.toml": text}, "source-code", finding("vcs-directory", "workspace/.git")
    )
    assert not outcome(result, "source-code")[0]
    done, detail = outcome(result, "vcs-directory")
    assert done and detail.startswith("project.toml: .git in [build] exclude")
    assert written(result)["build"] == {
        "env": [{"name": "GOOGLE_CLEAR_SOURCE", "value": "1"}],
        "exclude": [".git"],
    }
    assert result.fixed == ("vcs-directory",)


@pytest.mark.parametrize(
    "clear", ["", '[[build.env]]\nname = "GOOGLE_CLEAR_SOURCE"\nvalue = "true"\n']
)
def test_devmode_disables_clear_source(clear: str) -> None:
    text = clear + '[[build.env]]\nname = "GOOGLE_DEVMODE"\nvalue = "true"\n'
    result = fix(
        {**GO, "project.toml": text},
        "source-code",
        "build-files",
        finding("vcs-directory", "workspace/.git"),
    )
    done, detail = outcome(result, "source-code")
    assert not done and outcome(result, "build-files") == (done, detail)
    assert detail.startswith("project.toml sets GOOGLE_DEVMODE=true: devmode disables clearing")
    assert outcome(result, "vcs-directory")[0]
    build = written(result)["build"]
    assert build["exclude"] == [".git"]
    # GOOGLE_CLEAR_SOURCE is not added where devmode would ignore it
    names = ["GOOGLE_CLEAR_SOURCE", "GOOGLE_DEVMODE"] if clear else ["GOOGLE_DEVMODE"]
    assert [e["name"] for e in build["env"]] == names


def test_devmode_off_does_not_block() -> None:
    text = '[[build.env]]\nname = "GOOGLE_DEVMODE"\nvalue = "false"\n'
    assert outcome(fix({**GO, "project.toml": text}, "source-code"), "source-code")[0]


def test_unknown_language_is_explained() -> None:
    result = fix({"README.md": ""}, "source-code", finding("vcs-directory", "workspace/.git"))
    done, detail = outcome(result, "source-code")
    assert not done and "language is unknown" in detail
    assert outcome(result, "vcs-directory")[0]


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES), ids=lambda n: n[:40])
def test_golden_files(name: str) -> None:
    before = (CORPUS / name).read_text()
    files, rules = GOLDEN_CASES[name]
    [edit] = fix({**files, "project.toml": before}, *rules).edits
    assert edit.new == (GOLDEN / name).read_text()


def test_golden_files_are_all_checked() -> None:
    assert {p.name for p in GOLDEN.iterdir()} == set(GOLDEN_CASES)


def test_language_helper_for_other_fixers() -> None:
    ctx = context({"pom.xml": "<project/>"}, kind="paketo", tool="lifecycle")
    assert gcp_buildpacks.language(ctx).language == "java"
    ctx = context({"project.toml": "[["}, kind="paketo", tool="lifecycle")
    assert gcp_buildpacks.language(ctx).language is None


def test_finding_without_a_path_is_explained() -> None:
    result = fix({"package.json": "{}"}, "secret-file")
    assert result.edits == ()
    assert outcome(result, "secret-file") == (
        False,
        "a finding names no path, so there is nothing to exclude for it",
    )
