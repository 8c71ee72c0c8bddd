"""Dockerfiles: a numeric non-root USER, a minimal final base, and a tighter build context.

Only the final stage becomes the image, so only it is edited. A base switch to distroless
removes the shell, so it is made only when nothing in the final stage needs one (no RUN,
exec-form CMD/ENTRYPOINT/HEALTHCHECK) and the command still starts the app under the new
image's entrypoint (research/remediation.md §4). Whatever cannot be decided from the file
(``FROM $BASE``, ``USER $APP_USER``) is explained, never guessed.
"""

from __future__ import annotations

import json
import posixpath
import re
from fnmatch import fnmatchcase

from app.models import FileEdit, Finding
from app.remediation import dockerignore
from app.remediation.base import FixContext, FixResult, Outcome, edit
from app.remediation.bases import Choice, family, short_name
from app.remediation.dockerfile_text import (
    Dockerfile,
    DockerfileError,
    Instruction,
    LineEdits,
    Stage,
    parse,
)

name = "dockerfile"
USER_RULES = ("root-user", "non-numeric-user")
BASE_RULES = ("non-minimal-base", "shell", "package-manager")
SECRET_RULES = ("secret-file", "secret-in-deleted-layer")
CONTEXT_RULES = ("vcs-directory", *SECRET_RULES, "build-files")
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
KNOWN_USERS = {"nonroot": ("65532", "65532"), "nobody": ("65534", "65534")}
# Build files no image build reads from its context; anything else may be (pom.xml, go.mod …).
BUILD_ONLY = (
    "Dockerfile",
    "Dockerfile.*",
    "*.Dockerfile",
    "*.dockerfile",
    ".dockerignore",
    "docker-compose*.y*ml",
    "compose*.y*ml",
    ".github",
    ".gitlab-ci.yml",
    ".circleci",
    "Jenkinsfile",
    "cloudbuild.y*ml",
    "skaffold.y*ml",
)
_STATIC_FINAL = ("alpine:*", "debian:*", "ubuntu:*", "busybox:*", "golang:*")
_CREATES_USER = re.compile(r"\b(?:useradd|adduser)\b(?P<args>[^;&|]*)")
_CREATES_GROUP = re.compile(r"\b(?:groupadd|addgroup)\b(?P<args>[^;&|]*)")
_PASSWD_UID = re.compile(r"uid (\d+) in /etc/passwd")


def applies(ctx: FixContext) -> bool:
    return ctx.platform.builder.kind == "dockerfile"


def fix(ctx: FixContext) -> FixResult:
    user_rules = tuple(r for r in USER_RULES if r in ctx.rules)
    base_rules = tuple(r for r in BASE_RULES if r in ctx.rules)
    context_rules = tuple(r for r in CONTEXT_RULES if r in ctx.rules)
    source = ("source-code",) if "source-code" in ctx.rules else ()
    everything = user_rules + base_rules + context_rules + source
    if not everything:
        return FixResult()
    path = _dockerfile(ctx)
    text = ctx.tree.read(path) if path else None
    if path is None or text is None:
        where = ctx.where
        return FixResult(outcomes=(Outcome(everything, False, f"no single Dockerfile in {where}"),))
    try:
        doc = parse(text)
    except DockerfileError as exc:
        return FixResult(outcomes=(Outcome(everything, False, f"{path}: {exc}"),))
    lines = LineEdits()
    outcomes: list[Outcome] = []
    switched = False
    if base_rules:
        outcome = _switch_base(doc, ctx, lines, base_rules, path)
        switched = outcome.done and bool(lines.replace)
        outcomes.append(outcome)
    if user_rules:
        outcomes.append(_set_user(doc, ctx, lines, user_rules, path, switched))
    edits: tuple[FileEdit, ...] = edit(path, text, lines.apply(doc))
    if context_rules:
        ignore_edits, ignore_outcomes = _ignore(doc, ctx, path)
        edits += ignore_edits
        outcomes.extend(ignore_outcomes)
    if source:
        outcomes.append(
            Outcome(
                source,
                False,
                "source files reach the image through a COPY of the build context; a multi-stage "
                "build that copies only the built artifact into the final stage removes them "
                "(not automated)",
            )
        )
    return FixResult(edits=edits, outcomes=tuple(outcomes))


def _dockerfile(ctx: FixContext) -> str | None:
    """The build's Dockerfile: ``Dockerfile`` in the build directory, else the only candidate."""
    if ctx.read("Dockerfile") is not None:
        return ctx.path("Dockerfile")
    prefix = f"{ctx.root}/" if ctx.root else ""
    candidates = [
        p
        for p in ctx.tree.paths()
        if p.startswith(prefix)
        and "/" not in p[len(prefix) :]
        and fnmatchcase(posixpath.basename(p), "*[Dd]ockerfile*")
        and not p.endswith(".dockerignore")
    ]
    return candidates[0] if len(candidates) == 1 else None


# --- USER -------------------------------------------------------------------------------


def _set_user(
    doc: Dockerfile,
    ctx: FixContext,
    lines: LineEdits,
    rules: tuple[str, ...],
    path: str,
    switched: bool,
) -> Outcome:
    stage = doc.final
    owner = next((s for s in reversed(_chain(doc, stage)) if s.last("USER")), None)
    last = owner.last("USER") if owner is not None else None
    current = last.value[0] if last is not None and last.value else ""
    runs = stage.all("RUN")
    last_run = runs[-1] if runs else None
    anchor = max(last_run.last if last_run else stage.start.last, -1)
    if owner is stage and last is not None:
        anchor = max(anchor, last.last)
    if "$" in current:
        return Outcome(
            rules, False, f"{path}: USER {current} is set from a variable; cannot tell who it is"
        )
    if current and not _is_root(current):
        if _numeric(current):
            return Outcome(rules, True, f"{path}: the final stage already runs as {current}")
        numeric = _numeric_for(doc, stage, current, ctx)
        if numeric is None:
            return Outcome(
                rules,
                False,
                f"{path}: USER {current}: its uid is not known from the Dockerfile or the "
                "image; set the numeric uid by hand",
            )
        if owner is stage and last is not None:
            lines.replace_instruction(last, f"USER {numeric}")
        else:
            lines.insert_before(_insertion_line(doc, stage, anchor), f"USER {numeric}")
        return Outcome(rules, True, f"{path}: USER {current} made numeric: USER {numeric}")
    user = ctx.user if switched else _uid_for_root_fix(doc, stage, ctx)
    if owner is stage and last is not None and (last_run is None or last_run.first < last.first):
        lines.replace_instruction(last, f"USER {user}")
        return Outcome(
            rules, True, f"{path}: USER {current} in the final stage replaced by USER {user}"
        )
    lines.insert_before(_insertion_line(doc, stage, anchor), f"USER {user}")
    after_run = " after its last RUN" if last_run is not None else ""
    return Outcome(
        rules,
        True,
        f"{path}: USER {user} added to the final stage{after_run}, before it starts the app",
    )


def _insertion_line(doc: Dockerfile, stage: Stage, anchor: int) -> int:
    """Before the first CMD/ENTRYPOINT/HEALTHCHECK after ``anchor`` (and the comments on it)."""
    starts = [
        i
        for i in stage.instructions
        if i.first > anchor and i.cmd in ("CMD", "ENTRYPOINT", "HEALTHCHECK")
    ]
    if not starts:
        return stage.instructions[-1].last + 1
    line = starts[0].first
    while line - 1 > anchor and doc.lines[line - 1].lstrip().startswith("#"):
        line -= 1
    return line


def _is_root(user: str) -> bool:
    return user.split(":", 1)[0] in ("root", "0")


def _numeric(user: str) -> bool:
    return all(part.isdigit() for part in user.split(":"))


def _created_users(doc: Dockerfile, stage: Stage) -> dict[str, tuple[str | None, str | None]]:
    """Users the stage (and the stages it builds on) create: name → (uid, gid); the uid is
    None when the system picks it (``useradd app`` without ``-u``)."""
    groups: dict[str, str] = {}
    users: dict[str, tuple[str | None, str | None]] = {}
    for current in _chain(doc, stage):
        for run in current.all("RUN"):
            command = " ".join(run.value)
            for match in _CREATES_GROUP.finditer(command):
                gid = _option(match["args"], "-g", "--gid")
                words = _words(match["args"])
                if gid and gid.isdigit() and words:
                    groups[words[-1]] = gid
            for match in _CREATES_USER.finditer(command):
                uid = _option(match["args"], "-u", "--uid")
                words = _words(match["args"])
                if words and not (uid and uid.isdigit()):
                    users[words[-1]] = (None, None)
                elif uid and words:
                    group = _option(match["args"], "-g", "--gid") or _option(
                        match["args"], "-G", "--ingroup"
                    )
                    gid = group if group and group.isdigit() else groups.get(group or words[-1])
                    users[words[-1]] = (uid, gid)
    return users


def _chain(doc: Dockerfile, stage: Stage) -> list[Stage]:
    """The stage and the earlier stages it is built FROM, oldest first."""
    chain = [stage]
    while (parent := doc.stage(chain[-1].base)) is not None and parent.index < chain[-1].index:
        chain.append(parent)
    return chain[::-1]


def _option(args: str, short: str, long: str) -> str | None:
    match = re.search(rf"(?:^|\s)(?:{re.escape(short)}|{re.escape(long)})(?:=|\s+)(\S+)", args)
    return match[1] if match else None


def _words(args: str) -> list[str]:
    """The non-option words of a useradd/adduser command (its last one is the name)."""
    tokens = args.split()
    words = []
    skip = False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token.startswith("-"):
            skip = "=" not in token and token not in _FLAGS_WITHOUT_VALUE
            continue
        words.append(token.strip("'\""))
    return words


_FLAGS_WITHOUT_VALUE = frozenset(
    {"-D", "-S", "-r", "-m", "-M", "-l", "-N", "-U", "--system", "--disabled-password",
     "--no-create-home", "--no-log-init", "--create-home", "-H"}
)  # fmt: skip


def _numeric_for(doc: Dockerfile, stage: Stage, user: str, ctx: FixContext) -> str | None:
    name, _, group = user.partition(":")
    created = _created_users(doc, stage)
    # A user the Dockerfile creates has whatever uid it was given there, whatever its name.
    uid, gid = created[name] if name in created else KNOWN_USERS.get(name, (None, None))
    if uid is None:
        for finding in ctx.active:
            match = (
                _PASSWD_UID.search(finding.evidence) if finding.rule == "non-numeric-user" else None
            )
            if match:
                uid = match[1]
    if uid is None or uid == "0":
        return None
    if group:
        gid = group if group.isdigit() else gid
    return f"{uid}:{gid}" if gid else uid


def _uid_for_root_fix(doc: Dockerfile, stage: Stage, ctx: FixContext) -> str:
    """The user the Dockerfile already creates, if it creates exactly one; else the configured."""
    created = _created_users(doc, stage)
    if len(created) == 1:
        uid, gid = next(iter(created.values()))
        if uid is not None and uid != "0":
            return f"{uid}:{gid}" if gid else uid
    return ctx.user


# --- FROM -------------------------------------------------------------------------------


def _switch_base(
    doc: Dockerfile, ctx: FixContext, lines: LineEdits, rules: tuple[str, ...], path: str
) -> Outcome:
    stage = doc.final
    image = stage.base

    def kept(reason: str) -> Outcome:
        return Outcome(rules, False, f"{path}: {reason}; base kept")

    if doc.stage(image) is not None:
        return kept(f"the final stage builds on the earlier stage {image!r}")
    if "$" in image:
        return kept(f"the final FROM is made from build arguments ({image})")
    if short_name(image) in {short_name(t) for t in ctx.bases.targets()}:
        return Outcome(rules, True, f"{path}: the final stage is already on {image}")
    choice = ctx.bases.for_image(image) or _static_go(doc, ctx)
    if choice is None:
        return kept(
            f"no minimal replacement is mapped for {image}; add a `bases` entry for it "
            "(docs/fixes.md)"
        )
    if not choice.image:
        return kept(f"{image}: {choice.why}")
    runtime = family(choice.image)
    needs = _shell_needs(stage) + _name_needs(doc, stage) + _health_needs(stage, runtime)
    if needs:
        return kept(f"{'; '.join(needs[:3])}, which the minimal image does not have")
    rewrites = _command_rewrites(doc, stage, runtime)
    if isinstance(rewrites, str):
        return kept(rewrites)
    from_text = _replace_image(doc, stage.start, image, choice.image)
    if from_text is None:
        return kept(f"cannot find {image} in the FROM line")
    lines.replace_instruction(stage.start, from_text)
    for instruction, new in rewrites:
        lines.replace_instruction(instruction, new)
    notes = [f"{path}: final stage FROM {image} → {choice.image} (no shell, no package manager)"]
    if rewrites:
        notes.append("the command adapted to its entrypoint")
    if choice.why:
        notes.append(choice.why)
    if "@" in image:
        notes.append("the digest pin was dropped: pin the new base by digest")
    return Outcome(rules, True, "; ".join(notes))


def _static_go(doc: Dockerfile, ctx: FixContext) -> Choice | None:
    """A final stage that only runs a Go binary built with CGO_ENABLED=0 in a golang stage."""
    final = doc.final
    if not any(fnmatchcase(short_name(final.base), glob) for glob in _STATIC_FINAL):
        return None
    command = final.last("ENTRYPOINT") or final.last("CMD")
    if command is None or not command.json or not command.value or not command.value[0]:
        return None
    program = posixpath.basename(command.value[0])
    for copy in final.all("COPY"):
        source = copy.flag("from")
        builder = doc.stage(source) if source else None
        if builder is None or not short_name(builder.base).startswith("golang:"):
            continue
        copied = {posixpath.basename(p.rstrip("/")) for p in copy.value}
        if program in copied and _static_build(builder):
            return ctx.bases.named("go-static")
    return None


def _static_build(stage: Stage) -> bool:
    """Every ``go build`` of the stage runs with CGO_ENABLED=0 (a static binary)."""
    flat = [(i, i.original.replace(" ", "")) for i in stage.instructions]
    everywhere = any(i.cmd in ("ENV", "ARG") and "CGO_ENABLED=0" in text for i, text in flat)
    builds = [text for i, text in flat if i.cmd == "RUN" and "gobuild" in text]
    return bool(builds) and (everywhere or all("CGO_ENABLED=0" in text for text in builds))


def _name_needs(doc: Dockerfile, stage: Stage) -> list[str]:
    """Users and groups named in the final stage: the minimal image has only ``nonroot``."""
    needs = []
    owner = next((s for s in reversed(_chain(doc, stage)) if s.last("USER")), None)
    last = owner.last("USER") if owner is not None else None
    if (
        last is not None
        and last.value
        and not _numeric(last.value[0])
        and not _is_root(last.value[0])
    ):
        needs.append(f"line {last.first + 1}: USER {last.value[0]} names a user")
    for instruction in stage.all("COPY", "ADD"):
        owner_flag = instruction.flag("chown")
        if owner_flag and not _numeric(owner_flag):
            needs.append(f"line {instruction.first + 1}: --chown={owner_flag} names a user")
    return needs


def _health_needs(stage: Stage, runtime: str | None) -> list[str]:
    """An exec-form HEALTHCHECK runs a program (curl, wget …) the minimal image lacks."""
    check = stage.last("HEALTHCHECK")
    if check is None or not check.json or check.value[:1] != ("CMD",) or len(check.value) < 2:
        return []
    program = check.value[1]
    if runtime in _RUNTIMES and program in _RUNTIMES[runtime]:
        return []
    return [f"line {check.first + 1}: HEALTHCHECK runs {program}"]


def _shell_needs(stage: Stage) -> list[str]:
    needs = []
    for instruction in stage.instructions[1:]:
        where = f"line {instruction.first + 1}"
        if instruction.cmd in ("RUN", "SHELL"):
            needs.append(f"{where}: {instruction.cmd} needs a shell")
        elif instruction.cmd in ("CMD", "ENTRYPOINT") and not instruction.json:
            if instruction.value and instruction.value != ("",):
                needs.append(f"{where}: shell-form {instruction.cmd} needs a shell")
        elif (
            instruction.cmd == "HEALTHCHECK"
            and instruction.value[:1] == ("CMD",)
            and not instruction.json
        ):
            needs.append(f"{where}: shell-form HEALTHCHECK needs a shell")
    return needs


_RUNTIMES = {"java": ("java",), "node": ("node", "nodejs"), "python": ("python", "python3")}
_SCRIPTS = {"java": (".jar",), "node": (".js", ".mjs", ".cjs"), "python": (".py",)}
_ENTRYPOINT = {"node": "/nodejs/bin/node", "python": "python3"}


def _command_rewrites(
    doc: Dockerfile, stage: Stage, runtime: str | None
) -> list[tuple[Instruction, str]] | str:
    """How CMD/ENTRYPOINT change so the app still starts under the new image's entrypoint.

    distroless java, nodejs and python set ENTRYPOINT to their interpreter (java as
    ``java -jar``), so a CMD that names the interpreter would run it twice. An interpreter
    named by path (``/venv/bin/python``, ``/opt/java/openjdk/bin/java``) belongs to the old
    base or a virtualenv built against it, which the new image does not have.
    """
    entry = stage.last("ENTRYPOINT")
    cmd = stage.last("CMD")
    if cmd is not None and (not cmd.value or not cmd.value[0]):
        cmd = None  # CMD [] runs nothing of its own
    if entry is not None and (not entry.value or not entry.value[0]):
        entry = None  # ENTRYPOINT [] clears the base's entrypoint: the CMD runs as is
        if cmd is not None and runtime in _RUNTIMES:
            return "ENTRYPOINT [] with a CMD that would bypass the distroless entrypoint"
    if entry is None and cmd is None:
        return "the final stage takes its command from the current base"
    program = (entry or cmd).value[0]  # type: ignore[union-attr]
    if runtime == "static" or runtime not in _RUNTIMES:
        name = posixpath.basename(program)
        if name in SHELLS or name.endswith(".sh"):
            return f"the command runs {program}, which needs a shell"
        return []
    if runtime == "python" and any(c.flag("from") for c in stage.all("COPY", "ADD")):
        return (
            "the final stage copies files built in another stage (a virtualenv or packages "
            "for the current base's Python); distroless python3 needs them built against "
            "Debian's /usr/bin/python3.13"
        )
    names = _RUNTIMES[runtime]
    if entry is not None:
        if entry.value[0] in names or entry.value[0] == _ENTRYPOINT.get(runtime):
            replacement = _ENTRYPOINT.get(runtime)
            if replacement is None or entry.value[0] == replacement:
                return []
            return [(entry, _exec("ENTRYPOINT", [replacement, *entry.value[1:]]))]
        return (
            f"ENTRYPOINT runs {entry.value[0]}, not {names[0]} (it may need a shell, a tool "
            "or a path the image lacks)"
        )
    assert cmd is not None  # noqa: S101 (entry is None here, so cmd is not)
    first = cmd.value[0]
    if first in names:
        args = list(cmd.value[1:])
        if runtime == "java":
            if args[:1] == ["-jar"] and len(args) >= 2:
                return [(cmd, _exec("CMD", args[1:]))]
            return [(cmd, _exec("ENTRYPOINT", list(cmd.value)))]
        if not args:
            return f"CMD starts {first} without a program"
        return [(cmd, _exec("CMD", args))]
    if first.endswith(_SCRIPTS[runtime]):
        return []
    return f"CMD runs {first}, which the {runtime} image's entrypoint cannot start"


def _exec(keyword: str, args: list[str]) -> str:
    return f"{keyword} {json.dumps(args)}"


def _replace_image(doc: Dockerfile, instruction: Instruction, old: str, new: str) -> str | None:
    text = "".join(doc.lines[instruction.first : instruction.last + 1]).rstrip("\r\n")
    pattern = re.compile(rf"(?<=\s){re.escape(old)}(?=\s|$)")
    if not pattern.search(text):
        return None
    return pattern.sub(lambda _m: new, text, count=1)


# --- .dockerignore ----------------------------------------------------------------------


def _ignore(
    doc: Dockerfile, ctx: FixContext, path: str
) -> tuple[tuple[FileEdit, ...], list[Outcome]]:
    findings = [f for f in ctx.active if f.rule in CONTEXT_RULES]
    rules = tuple(dict.fromkeys(f.rule for f in findings))
    copies = [
        i
        for stage in doc.stages
        for i in stage.all("COPY", "ADD")
        if i.flag("from") is None and not i.heredoc
    ]
    if not any(_copies_whole_context(i) for i in copies):
        return (), [
            Outcome(
                rules,
                False,
                f"{path} copies no whole build context (COPY . …), so .dockerignore cannot keep "
                "these files out; they come from a named source",
            )
        ]
    ignore_path = _ignore_path(ctx, path)
    current = ctx.tree.read(ignore_path)
    existing = dockerignore.patterns(current)
    entries: list[str] = []
    outcomes = []
    for rule in rules:
        results = [
            _entry_for(name, rule, doc, existing, entries)
            for f in findings
            if f.rule == rule
            for name in _names(f)
        ]
        refused = sorted({why for ok, why in results if not ok})
        added = sorted({entry for ok, entry in results if ok})
        parts = (
            [f"{ignore_path}: {', '.join(added)} kept out of the build context"] if added else []
        )
        parts += refused or ([] if results else ["no file named"])
        outcomes.append(Outcome((rule,), bool(added) and not refused, "; ".join(parts)))
    new = dockerignore.append(current, entries)
    return edit(ignore_path, current, new) if entries else (), outcomes


def _names(finding: Finding) -> list[str]:
    """The file names a finding is about: build-files lists them in its evidence."""
    if finding.rule == "build-files":
        return [n.strip() for n in finding.evidence.split(",") if n.strip()]
    return [posixpath.basename((finding.path or "").rstrip("/"))]


def _ignore_path(ctx: FixContext, dockerfile_path: str) -> str:
    """BuildKit prefers ``<Dockerfile>.dockerignore`` beside the Dockerfile to ``.dockerignore``."""
    specific = f"{dockerfile_path}.dockerignore"
    return specific if ctx.tree.read(specific) is not None else ctx.path(".dockerignore")


def _entry_for(
    name: str,
    rule: str,
    doc: Dockerfile,
    existing: list[dockerignore.Pattern],
    entries: list[str],
) -> tuple[bool, str]:
    """(True, entry) when an entry keeps the file out of the context, else (False, why not)."""
    if not name:
        return False, f"{rule}: the finding names no file"
    if not _SAFE_NAME.fullmatch(name):
        return False, f"{name!r} has characters a .dockerignore line cannot hold safely"
    if rule == "build-files" and not any(fnmatchcase(name, g) for g in BUILD_ONLY):
        return False, f"{name} may be needed by the build, so it stays in the context"
    used = _uses(doc, name)
    if used is not None:
        return False, f"line {used.first + 1} uses {name} ({used.cmd}), so it stays in the context"
    entry = f"**/{name}"
    if dockerignore.reincluded(existing, name):
        return False, f"the .dockerignore re-includes {name} with a ! rule"
    if dockerignore.excluded(existing, name) and dockerignore.excluded(existing, f"x/{name}"):
        return True, entry  # already out of the context
    if entry not in entries:
        entries.append(entry)
    return True, entry


_SAFE_NAME = re.compile(r"[A-Za-z0-9._@+-][A-Za-z0-9._@+ -]*")


def _uses(doc: Dockerfile, name: str) -> Instruction | None:
    """An instruction that names ``name`` as a path (``COPY .npmrc``, ``--mount=…source=.git``)."""
    pattern = re.compile(rf"(?:^|[\s=/\"',\[]){re.escape(name)}(?:$|[\s/\"',\]])")
    for stage in doc.stages:
        for instruction in stage.instructions:
            if instruction.cmd in ("COPY", "ADD", "RUN") and pattern.search(instruction.original):
                if instruction.cmd != "RUN" and _copies_whole_context(instruction):
                    continue
                return instruction
    return None


def _copies_whole_context(instruction: Instruction) -> bool:
    return any(s.rstrip("/") in (".", "", "*", "./*") for s in instruction.value[:-1])
