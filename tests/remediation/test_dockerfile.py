"""The Dockerfile fixer on the real Dockerfiles of the corpus and on the cases that decide it."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dockerfile as buildkit
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.models import FileEdit
from app.remediation import dockerfile, dockerignore
from app.remediation.base import FixResult
from tests.conftest import FIXTURES
from tests.remediation.support import context, finding

CORPUS = FIXTURES / "corpus" / "dockerfile"
IGNORES = FIXTURES / "corpus" / "dockerignore"
GOLDEN = FIXTURES / "golden" / "dockerfile"
DOCKERFILES = sorted(CORPUS.iterdir())
HADOLINT = Path(sys.executable).parent / "hadolint"
RULES = ("root-user", "non-minimal-base", "shell")
# What the fixer may add or put in place of a line: nothing else in a Dockerfile changes.
ALLOWED = re.compile(r"^(USER \d+(:\d+)?|FROM \S.*|CMD \[.*\]|ENTRYPOINT \[.*\])$")


def fix(files: dict[str, str], *rules: str | object, **kwargs: object) -> FixResult:
    ctx = context(files, *rules, kind="dockerfile", tool="buildkit", **kwargs)  # type: ignore[arg-type]
    assert dockerfile.applies(ctx)
    return dockerfile.fix(ctx)


def after(files: dict[str, str], result: FixResult, path: str = "Dockerfile") -> str:
    return next((e.new for e in result.edits if e.path == path), files[path])


def final_user(text: str) -> str:
    """The user the image runs as, read with BuildKit's parser: the final stage's last USER,
    or that of the stages it is built FROM."""
    stages: list[tuple[str, str | None, list[str]]] = []
    for command in buildkit.parse_string(text):
        if command.cmd.upper() == "FROM":
            words = command.value
            alias = words[2].lower() if len(words) > 2 else None
            stages.append((words[0].lower(), alias, []))
        elif command.cmd.upper() == "USER" and stages:
            stages[-1][2].append(command.value[0])
    base, _, users = stages[-1]
    while not users:
        parent = next((s for s in stages if s[1] == base), None)
        if parent is None:
            return ""
        base, _, users = parent
    return users[-1]


def hadolint(text: str) -> Counter[str]:
    result = subprocess.run(
        [str(HADOLINT), "--no-fail", "-f", "json", "-"],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return Counter(item["code"] for item in json.loads(result.stdout))


def changed_lines(before: str, new: str) -> tuple[list[str], list[str]]:
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return [d[1:] for d in diff if d[0] == "+"], [d[1:] for d in diff if d[0] == "-"]


def test_corpus_is_here() -> None:
    assert len(DOCKERFILES) >= 25


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name[:60])
def test_corpus_fix_is_minimal_parsable_idempotent_and_effective(path: Path) -> None:
    before = path.read_text()
    files = {"Dockerfile": before}
    result = fix(files, *RULES)
    new = after(files, result)
    buildkit.parse_string(new)  # BuildKit still reads it
    added, removed = changed_lines(before, new)
    assert all(ALLOWED.match(line) for line in added), added
    assert all(re.match(r"^(USER|FROM|CMD|ENTRYPOINT)\b", line) for line in removed), removed
    again = fix({"Dockerfile": new}, *RULES)
    assert after({"Dockerfile": new}, again) == new  # applying twice equals applying once
    [user_outcome] = [o for o in result.outcomes if "root-user" in o.rules]
    if user_outcome.done:
        uid = final_user(new).split(":")[0]
        assert uid.isdigit() and uid != "0", final_user(new)
    else:
        assert new == before or "FROM" in "".join(added)


def test_corpus_fixes_gain_no_hadolint_warning_and_clear_dl3002() -> None:
    parsed = 0
    for path in DOCKERFILES:
        before = path.read_text()
        new = after({"Dockerfile": before}, fix({"Dockerfile": before}, *RULES))
        old_codes, new_codes = hadolint(before), hadolint(new)
        assert not (new_codes - old_codes), (path.name, new_codes - old_codes)
        if "DL1000" not in old_codes:  # hadolint cannot parse some (heredocs): no verdict there
            parsed += 1
            assert "DL3002" not in new_codes, path.name
    assert parsed >= 20


def test_hadolint_is_a_real_check() -> None:
    assert hadolint('FROM debian:12\nUSER root\nCMD ["x"]\n')["DL3002"] == 1


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*")), ids=lambda p: p.name[:60])
def test_golden_files(golden: Path) -> None:
    before = (CORPUS / golden.name).read_text()
    assert after({"Dockerfile": before}, fix({"Dockerfile": before}, *RULES)) == golden.read_text()


# --- USER ---------------------------------------------------------------------------------


def test_user_goes_after_the_last_run_and_before_the_comment_on_cmd() -> None:
    text = 'FROM debian:12\nRUN apt-get update\nCOPY app /app\n\n# start it\nCMD ["/app"]\n'
    new = after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user"))
    assert new == (
        "FROM debian:12\nRUN apt-get update\nCOPY app /app\n\nUSER 65532:65532\n# start it\n"
        'CMD ["/app"]\n'
    )


def test_a_final_user_root_is_replaced_and_one_before_a_run_is_followed() -> None:
    text = 'FROM debian:12\nUSER root\nCMD ["/app"]\n'
    assert after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user")) == (
        'FROM debian:12\nUSER 65532:65532\nCMD ["/app"]\n'
    )
    text = 'FROM debian:12\nUSER root\nRUN apt-get update\nCMD ["/app"]\n'
    assert after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user")) == (
        'FROM debian:12\nUSER root\nRUN apt-get update\nUSER 65532:65532\nCMD ["/app"]\n'
    )


def test_the_user_the_dockerfile_creates_is_the_one_used() -> None:
    text = (
        "FROM debian:12\nRUN groupadd -g 10001 app && useradd -l -u 10001 -g app app\n"
        'CMD ["/app"]\n'
    )
    new = after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user"))
    assert "USER 10001:10001\n" in new
    named = text.replace('CMD ["/app"]', 'USER app\nCMD ["/app"]')
    result = fix({"Dockerfile": named}, "non-numeric-user")
    assert "USER 10001:10001\n" in after({"Dockerfile": named}, result)
    assert "USER app\n" not in after({"Dockerfile": named}, result)


def test_a_named_user_gets_the_uid_the_image_passwd_gives() -> None:
    text = 'FROM node:22\nUSER node\nCMD ["node", "x.js"]\n'
    evidence = "config User 'node' (uid 1000 in /etc/passwd); use the numeric uid"
    result = fix({"Dockerfile": text}, finding("non-numeric-user", evidence=evidence))
    assert "USER 1000\n" in after({"Dockerfile": text}, result)
    unknown = fix({"Dockerfile": text}, "non-numeric-user")
    assert unknown.edits == () and "uid is not known" in unknown.notes[0]


def test_users_from_variables_are_explained_not_guessed() -> None:
    text = 'FROM debian:12\nARG APP_USER\nUSER $APP_USER\nCMD ["/app"]\n'
    result = fix({"Dockerfile": text}, "root-user")
    assert result.edits == () and result.fixed == ()
    assert "set from a variable" in result.notes[0]


def test_no_final_newline_and_crlf_are_kept() -> None:
    text = 'FROM debian:12\r\nCMD ["/app"]'
    new = after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user"))
    assert new == 'FROM debian:12\r\nUSER 65532:65532\r\nCMD ["/app"]'
    text = "FROM debian:12\nCOPY app /app"
    assert after({"Dockerfile": text}, fix({"Dockerfile": text}, "root-user")) == (
        "FROM debian:12\nCOPY app /app\nUSER 65532:65532"
    )


# --- FROM ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "command", "new_base", "new_command"),
    [
        (
            "node:22-bookworm-slim",
            'CMD ["node", "server.js"]',
            "gcr.io/distroless/nodejs22-debian13:nonroot",
            'CMD ["server.js"]',
        ),
        (
            "node:24",
            'ENTRYPOINT ["node", "server.js"]',
            "gcr.io/distroless/nodejs24-debian13:nonroot",
            'ENTRYPOINT ["/nodejs/bin/node", "server.js"]',
        ),
        (
            "eclipse-temurin:21-jre",
            'CMD ["java", "-jar", "/app.jar"]',
            "gcr.io/distroless/java21-debian13:nonroot",
            'CMD ["/app.jar"]',
        ),
        (
            "eclipse-temurin:25-jre-noble",
            'CMD ["java", "-Xmx1g", "-jar", "/app.jar"]',
            "gcr.io/distroless/java25-debian13:nonroot",
            'ENTRYPOINT ["java", "-Xmx1g", "-jar", "/app.jar"]',
        ),
        (
            "python:3.13-slim",
            'CMD ["python", "app.py"]',
            "gcr.io/distroless/python3-debian13:nonroot",
            'CMD ["app.py"]',
        ),
    ],
)
def test_final_base_switch_adapts_the_command(
    base: str, command: str, new_base: str, new_command: str
) -> None:
    # Python's packages must be built for Debian's interpreter, so that app copies plain files
    copy = "COPY app.py /app/" if base.startswith("python") else "COPY --from=build /out /app"
    text = (
        f"FROM {base} AS build\nRUN make\n\nFROM --platform=$TARGETPLATFORM {base} AS runtime\n"
        f"{copy}\n{command}\n"
    )
    result = fix({"Dockerfile": text}, "non-minimal-base", "shell", "root-user")
    new = after({"Dockerfile": text}, result)
    assert new == (
        f"FROM {base} AS build\nRUN make\n\nFROM --platform=$TARGETPLATFORM {new_base} AS runtime\n"
        f"{copy}\nUSER 65532:65532\n{new_command}\n"
    )
    assert set(result.fixed) == {"non-minimal-base", "shell", "root-user"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('FROM node:22\nRUN npm ci\nCMD ["node", "x.js"]\n', "line 2: RUN needs a shell"),
        ("FROM node:22\nCMD node x.js\n", "shell-form CMD needs a shell"),
        (
            'FROM node:22\nHEALTHCHECK CMD curl -f localhost\nCMD ["node", "x.js"]\n',
            "shell-form HEALTHCHECK",
        ),
        ('FROM node:22\nCMD ["npm", "start"]\n', "CMD runs npm"),
        ("FROM node:22\nCOPY . .\n", "takes its command from the current base"),
        ('FROM node:22-alpine\nCMD ["node", "x.js"]\n', "musl"),
        ('FROM eclipse-temurin:11-jre\nCMD ["java", "-jar", "a.jar"]\n', "no Java 8 or 11"),
        ('ARG BASE\nFROM $BASE\nCMD ["x"]\n', "made from build arguments"),
        ('FROM node:22 AS base\nFROM base\nCMD ["node", "x.js"]\n', "earlier stage 'base'"),
        ('FROM corp/runtime:1\nCMD ["x"]\n', "no minimal replacement is mapped"),
        (
            'FROM eclipse-temurin:21\nENTRYPOINT ["/app/bin/start"]\n',
            "ENTRYPOINT runs /app/bin/start",
        ),
    ],
)
def test_base_is_kept_when_the_final_stage_needs_what_distroless_lacks(
    text: str, reason: str
) -> None:
    result = fix({"Dockerfile": text}, "non-minimal-base")
    assert result.edits == () and result.fixed == ()
    assert reason in result.notes[0] and "base kept" in result.notes[0]


def test_static_go_binary_moves_to_distroless_static() -> None:
    text = (
        "FROM golang:1.24 AS build\nENV CGO_ENABLED=0\nRUN go build -o /app .\n"
        'FROM alpine:3.21\nCOPY --from=build /app /app\nENTRYPOINT ["/app"]\n'
    )
    new = after({"Dockerfile": text}, fix({"Dockerfile": text}, "non-minimal-base"))
    assert "FROM gcr.io/distroless/static-debian13:nonroot\n" in new
    cgo = text.replace("ENV CGO_ENABLED=0\n", "")
    assert fix({"Dockerfile": cgo}, "non-minimal-base").edits == ()


def test_a_digest_pin_is_reported_and_a_mapping_override_is_used() -> None:
    text = "FROM node:22@sha256:" + "a" * 64 + '\nCMD ["node", "x.js"]\n'
    result = fix({"Dockerfile": text}, "non-minimal-base")
    assert "pin the new base by digest" in result.notes[0]
    custom = fix(
        {"Dockerfile": text}, "non-minimal-base", bases={"node:22*": "cgr.dev/chainguard/node"}
    )
    assert after({"Dockerfile": text}, custom).startswith("FROM cgr.dev/chainguard/node\n")
    kept = fix({"Dockerfile": text}, "non-minimal-base", bases={"node:*": ""})
    assert kept.edits == ()


# --- which Dockerfile, broken ones ----------------------------------------------------------


def test_the_only_dockerfile_of_the_build_directory_is_found() -> None:
    files = {"svc/app.Dockerfile": 'FROM debian:12\nCMD ["/x"]\n', "other/Dockerfile": "FROM a\n"}
    result = fix(files, "root-user", root="svc")
    assert [e.path for e in result.edits] == ["svc/app.Dockerfile"]
    files["svc/Dockerfile.dev"] = "FROM debian:12\n"
    ambiguous = fix(files, "root-user", root="svc")
    assert ambiguous.edits == () and "no single Dockerfile in svc" in ambiguous.notes[0]


def test_an_unparsable_dockerfile_changes_nothing() -> None:
    result = fix({"Dockerfile": "FROM a\nRUN <<EOF\nnever ends\n"}, "root-user", "vcs-directory")
    assert result.edits == () and result.fixed == ()
    assert "not a Dockerfile BuildKit can parse" in result.notes[0]


# --- .dockerignore --------------------------------------------------------------------------

COPY_ALL = 'FROM debian:12\nCOPY . /app\nCMD ["/app/run"]\n'


def ignore_fix(files: dict[str, str], *rules: object) -> tuple[FixResult, str | None]:
    result = fix(files, *rules)
    edits = {e.path: e for e in result.edits}
    ignore: FileEdit | None = edits.get(".dockerignore")
    return result, ignore.new if ignore else None


def test_dockerignore_is_created_with_vcs_and_secret_entries() -> None:
    result, new = ignore_fix(
        {"Dockerfile": COPY_ALL},
        finding("vcs-directory", "app/.git"),
        finding("secret-file", "app/config/.env"),
        finding("build-files", "app", evidence="Dockerfile, docker-compose.yml"),
    )
    assert new == (
        f"{dockerignore.COMMENT}\n**/.git\n**/.env\n**/Dockerfile\n**/docker-compose.yml\n"
    )
    assert set(result.fixed) == {"vcs-directory", "secret-file", "build-files"}
    rules = dockerignore.patterns(new)
    assert dockerignore.excluded(rules, ".git") and dockerignore.excluded(rules, "a/b/.env")
    assert not dockerignore.excluded(rules, "src/main.go")


@pytest.mark.parametrize("path", sorted(IGNORES.iterdir()), ids=lambda p: p.name[:60])
def test_corpus_dockerignores_are_appended_to_and_stay_idempotent(path: Path) -> None:
    before = path.read_text()
    files = {"Dockerfile": COPY_ALL, ".dockerignore": before}
    _, new = ignore_fix(files, finding("vcs-directory", "app/.git"))
    assert new is not None and new.startswith(before)
    assert dockerignore.excluded(dockerignore.patterns(new), ".git")
    _, again = ignore_fix(
        {"Dockerfile": COPY_ALL, ".dockerignore": new}, finding("vcs-directory", "app/.git")
    )
    assert again is None


def test_allowlist_dockerignores_are_respected() -> None:
    allowlist = "*\n!src\n!package.json\n"
    result, new = ignore_fix(
        {"Dockerfile": COPY_ALL, ".dockerignore": allowlist}, finding("vcs-directory", "app/.git")
    )
    assert new is None and result.fixed == ("vcs-directory",)  # `*` already keeps .git out
    reincluding = "*\n!src\n!.env\n"
    result, new = ignore_fix(
        {"Dockerfile": COPY_ALL, ".dockerignore": reincluding}, finding("secret-file", "app/.env")
    )
    assert new is None and result.fixed == ()
    assert "re-includes .env" in result.notes[0]


def test_entries_a_copy_needs_and_build_inputs_are_not_ignored() -> None:
    text = 'FROM debian:12\nCOPY .npmrc package.json ./\nCOPY . .\nCMD ["/x"]\n'
    result, new = ignore_fix(
        {"Dockerfile": text},
        finding("secret-file", "app/.npmrc"),
        finding("build-files", "app", evidence="pom.xml"),
    )
    assert new is None and result.fixed == ()
    assert any("line 2 uses .npmrc (COPY)" in n for n in result.notes)
    assert any("pom.xml may be needed by the build" in n for n in result.notes)


def test_dockerfile_specific_ignore_file_wins_and_named_copies_are_explained() -> None:
    files = {"Dockerfile": COPY_ALL, "Dockerfile.dockerignore": "node_modules\n"}
    result = fix(files, finding("vcs-directory", "app/.git"))
    assert [e.path for e in result.edits] == ["Dockerfile.dockerignore"]
    named = 'FROM debian:12\nCOPY src /src\nCMD ["/x"]\n'
    result = fix({"Dockerfile": named}, finding("vcs-directory", "src/.git"))
    assert result.edits == () and "copies no whole build context" in result.notes[0]


# --- properties -----------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)
existing_lines = st.lists(
    st.one_of(
        names,
        names.map(lambda n: f"**/{n}"),
        names.map(lambda n: f"/{n}/"),
        st.just("*"),
        st.just("# c"),
    ),
    max_size=8,
)


@given(existing_lines, names)
def test_an_appended_entry_always_takes_effect_and_keeps_the_file(
    lines: list[str], name: str
) -> None:
    before = "\n".join(lines) + ("\n" if lines else "")
    new = dockerignore.append(before, [f"**/{name}"])
    assert new.startswith(before)
    rules = dockerignore.patterns(new)
    assert dockerignore.excluded(rules, name) and dockerignore.excluded(rules, f"deep/dir/{name}")


instructions = st.sampled_from(
    [
        "RUN apt-get update",
        "COPY . /app",
        "WORKDIR /app",
        "ENV A=1",
        "EXPOSE 8080",
        "USER root",
        "USER 1000",
        'CMD ["/app/run"]',
        'ENTRYPOINT ["/app/run"]',
        "# a comment",
        "",
        "RUN a \\\n  && b",
    ]
)


@given(st.lists(instructions, max_size=10), st.lists(instructions, max_size=10))
def test_any_two_stage_dockerfile_ends_non_root_with_its_lines_kept(
    first: list[str], last: list[str]
) -> None:
    text = "\n".join(["FROM debian:12 AS build", *first, "FROM debian:12", *last]) + "\n"
    result = fix({"Dockerfile": text}, "root-user")
    new = after({"Dockerfile": text}, result)
    uid = final_user(new).split(":")[0]
    assert result.fixed == ("root-user",) and uid.isdigit() and uid != "0"
    added, removed = changed_lines(text, new)
    assert all(ALLOWED.match(line) for line in added) and all(r == "USER root" for r in removed)
    assert after({"Dockerfile": new}, fix({"Dockerfile": new}, "root-user")) == new


# --- what a review found: each would have been a wrong edit or a crash ---------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (  # distroless has no `node` user: a named USER or --chown would break the build
            'FROM node:22\nWORKDIR /app\nCOPY --chown=node:node . .\nUSER node\nCMD ["node", "x.js"]\n',
            "USER node names a user",
        ),
        ('FROM node:22\nCOPY --chown=app . .\nCMD ["node", "x.js"]\n', "--chown=app names a user"),
        (  # a virtualenv built for the old base's Python
            "FROM python:3.13-slim AS b\nRUN python -m venv /venv\nFROM python:3.13-slim\n"
            'COPY --from=b /venv /venv\nCMD ["/venv/bin/python", "/app/app.py"]\n',
            "copies files built in another stage",
        ),
        (  # the old base's java path
            'FROM eclipse-temurin:21-jre\nENTRYPOINT ["/opt/java/openjdk/bin/java", "-jar", "a.jar"]\n',
            "ENTRYPOINT runs /opt/java/openjdk/bin/java",
        ),
        (
            'FROM node:22\nHEALTHCHECK CMD ["curl", "-f", "http://localhost"]\nCMD ["node", "x.js"]\n',
            "HEALTHCHECK runs curl",
        ),
        (  # a static Go binary started through a shell
            "FROM golang:1.24 AS b\nENV CGO_ENABLED=0\nRUN go build -o /app .\nFROM alpine:3.21\n"
            'COPY --from=b /app /app\nCMD ["/bin/sh", "-c", "/app --port $PORT"]\n',
            "no minimal replacement is mapped for alpine:3.21",
        ),
        (  # only a tool was built static; the app itself links libc
            "FROM golang:1.24 AS b\nRUN CGO_ENABLED=0 go build -o /tool ./tool\nRUN go build -o /app .\n"
            'FROM alpine:3.21\nCOPY --from=b /app /app\nENTRYPOINT ["/app"]\n',
            "no minimal replacement is mapped for alpine:3.21",
        ),
        ("FROM node:22\nCOPY . .\nCMD []\n", "takes its command from the current base"),
    ],
)
def test_review_cases_keep_the_base(text: str, reason: str) -> None:
    result = fix({"Dockerfile": text}, "non-minimal-base", "root-user")
    base = next(o for o in result.outcomes if "non-minimal-base" in o.rules)
    assert not base.done and reason in base.detail, base.detail
    assert "FROM gcr.io/distroless" not in after({"Dockerfile": text}, result)


def test_a_user_created_without_a_uid_is_not_guessed() -> None:
    text = 'FROM python:3.12-slim\nRUN useradd -m nonroot\nUSER nonroot\nCMD ["python", "a.py"]\n'
    result = fix({"Dockerfile": text}, "non-numeric-user")
    assert result.edits == () and "uid is not known" in result.notes[0]
    root = 'FROM python:3.12-slim\nRUN useradd -m app\nCMD ["python", "a.py"]\n'
    assert "USER 65532:65532" in after({"Dockerfile": root}, fix({"Dockerfile": root}, "root-user"))


def test_paths_the_build_uses_are_not_ignored_and_odd_names_are_refused() -> None:
    text = (
        "FROM golang:1.24\nCOPY . .\n"
        "RUN --mount=type=bind,source=.git,target=/src/.git go build -buildvcs=true -o /app .\n"
        'CMD ["/app"]\n'
    )
    result, new = ignore_fix({"Dockerfile": text}, finding("vcs-directory", "src/.git"))
    assert new is None and "line 3 uses .git (RUN)" in result.notes[0]
    result, new = ignore_fix({"Dockerfile": COPY_ALL}, finding("secret-file", "app/a\n!*"))
    assert new is None and "cannot hold safely" in result.notes[0]
