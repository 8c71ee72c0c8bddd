"""`tightship fix`: the working tree of a checkout edited from an image or a saved report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.demo import oci
from app.models import (
    BaseImage,
    Builder,
    FileEdit,
    Finding,
    PlatformReport,
    Report,
    Severity,
    SourceHint,
)
from app.scm import ScmError
from app.scm.worktree import WorkTree
from tests.support import tars
from tests.support.layout import oci_layout

DOCKERFILE = 'FROM node:22-slim\nCOPY . /app\nWORKDIR /app\nCMD ["node", "server.js"]\n'
SECRET = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def report(*findings: Finding, kind: str = "dockerfile") -> Report:
    platform = PlatformReport(
        "linux/amd64", "sha256:cd", "", Builder(kind, "buildkit"), BaseImage(), SourceHint(),
        findings,
    )  # fmt: skip
    return Report("registry.example/acme/web:1", "sha256:ab", (platform,))


FINDINGS = (
    Finding("root-user", Severity.HIGH, "Container runs as root", "config User is empty"),
    Finding("non-minimal-base", Severity.MEDIUM, "Not minimal", "debian 12 with a shell"),
    Finding("vcs-directory", Severity.MEDIUM, "VCS data", ".git directory", path="app/.git"),
    Finding("secret-file", Severity.CRITICAL, "Stripe key", "stripe key", path="app/.env"),
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "web"
    repo.mkdir()
    (repo / "Dockerfile").write_text(DOCKERFILE)
    (repo / "server.js").write_text("console.log('hi')\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def run(*args: str, report_data: Report | None = None, tmp: Path | None = None) -> tuple[int, str]:
    extra: list[str] = []
    if report_data is not None and tmp is not None:
        path = tmp / "report.json"
        path.write_text(json.dumps(report_data.to_dict()))
        extra = ["--report", str(path)]
    result = CliRunner().invoke(main, ["fix", *args, *extra], catch_exceptions=False)
    return result.exit_code, result.output


def test_fix_edits_the_working_tree_and_says_what_it_did(checkout: Path, tmp_path: Path) -> None:
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 0, out
    dockerfile = (checkout / "Dockerfile").read_text()
    assert dockerfile == (
        "FROM gcr.io/distroless/nodejs22-debian13:nonroot\nCOPY . /app\nWORKDIR /app\n"
        'USER 65532:65532\nCMD ["server.js"]\n'
    )
    ignore = (checkout / ".dockerignore").read_text()
    assert "**/.git\n" in ignore and "**/.env\n" in ignore
    assert "+USER 65532:65532" in out and "--- /dev/null\n+++ b/.dockerignore" in out
    assert "fixed     secret-file app/.env" in out and "Rotate this credential" in out
    assert "2 file(s) changed" in out
    # nothing is committed, and a second run has nothing left to do
    log = subprocess.run(["git", "-C", str(checkout), "log"], capture_output=True, check=False)
    assert log.returncode != 0  # still no commit at all
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 0 and out.endswith("nothing to change\n")


def test_dry_run_prints_and_writes_nothing(checkout: Path, tmp_path: Path) -> None:
    code, out = run(
        "--repo", str(checkout), "--dry-run", report_data=report(*FINDINGS), tmp=tmp_path
    )
    assert code == 0 and "dry run: 2 file(s) would change" in out and "+USER" in out
    assert (checkout / "Dockerfile").read_text() == DOCKERFILE
    assert not (checkout / ".dockerignore").exists()


def test_the_repository_policy_is_honoured(checkout: Path, tmp_path: Path) -> None:
    (checkout / ".tightship.yaml").write_text(
        'user: "10001:10001"\nignore: [non-minimal-base, "secret-file:/app/*"]\n'
    )
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 0, out
    dockerfile = (checkout / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM node:22-slim\n") and "USER 10001:10001\n" in dockerfile
    assert "note: .tightship.yaml ignores 2 finding(s)" in out
    assert "**/.env" not in (checkout / ".dockerignore").read_text()
    (checkout / ".tightship.yaml").write_text("disable: true\n")
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 0 and ".tightship.yaml disables" in out
    (checkout / ".tightship.yaml").write_text("user: root\n")
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 0 and "is not numeric uid" in out and "nothing to change" in out


def test_bad_arguments_and_reports_are_clear_errors(checkout: Path, tmp_path: Path) -> None:
    code, out = run("--repo", str(checkout))
    assert code == 2 and "exactly one of --image and --report" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/else"}')
    code, out = run("--repo", str(checkout), "--report", str(bad))
    assert code == 2 and "not a Tightship report" in out
    assert (checkout / "Dockerfile").read_text() == DOCKERFILE


def test_no_fixer_explains_every_finding(checkout: Path, tmp_path: Path) -> None:
    code, out = run("--repo", str(checkout), report_data=report(*FINDINGS, kind="ko"), tmp=tmp_path)
    assert code == 0
    assert out.count("not fixed") == len(FINDINGS) and "no fixer handles a ko build" in out


def test_fix_from_an_image_never_prints_its_secret(checkout: Path, tmp_path: Path) -> None:
    layers = [
        tars.oci_layer(
            [
                tars.file("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
                tars.file("bin/sh", "\x7fELF"),
                tars.file("app/server.js", "console.log('hi')\n"),
                tars.file("app/.env", f"STRIPE_KEY={SECRET}\n"),
                tars.file("app/.git/HEAD", "ref: refs/heads/main\n"),
            ]
        )
    ]
    history = [{"created_by": "COPY . /app # buildkit", "comment": "buildkit.dockerfile.v0"}]
    layout = oci_layout(tmp_path / "layout", oci.image(layers, user="", history=history))
    env = {**os.environ, "TIGHTSHIP_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "fix",
            "--repo",
            str(checkout),
            "--image",
            f"oci-layout:{layout}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "USER 65532:65532" in (checkout / "Dockerfile").read_text()
    ignore = (checkout / ".dockerignore").read_text()
    assert "**/.git" in ignore and "**/.env" in ignore
    assert "Rotate this credential" in result.stdout


def test_worktree_writes_are_checked_atomic_and_stay_inside(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "gradlew"
    script.write_bytes(b"#!/bin/sh\r\necho\r\n")
    script.chmod(0o755)
    tree = WorkTree(repo)
    assert tree.read("gradlew") == "#!/bin/sh\r\necho\r\n"  # line endings as they are
    tree.write(FileEdit("gradlew", "#!/bin/sh\r\necho\r\n", "#!/bin/sh\r\necho hi\r\n"))
    assert (
        script.read_bytes() == b"#!/bin/sh\r\necho hi\r\n"
        and script.stat().st_mode & 0o777 == 0o755
    )
    with pytest.raises(ScmError, match="changed since it was read"):
        tree.write(FileEdit("gradlew", "#!/bin/sh\r\necho\r\n", "x"))
    (repo / "out").symlink_to(tmp_path)
    with pytest.raises(ScmError, match="outside"):
        tree.write(FileEdit("out/evil", None, "x"))
    with pytest.raises(ScmError, match=r"never edits \.github"):
        tree.write(FileEdit(".github/workflows/x.yml", None, "x"))
    assert not (tmp_path / "evil").exists() and sorted(os.listdir(repo)) == ["gradlew", "out"]
    assert list(tree.paths()) == ["gradlew"]  # the link to a directory is not walked


def test_worktree_writes_all_edits_or_none(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM a\n")
    (repo / "pom.xml").write_text("<project/>\n")
    tree = WorkTree(repo)
    stale = (
        FileEdit("Dockerfile", "FROM a\n", "FROM b\n"),
        FileEdit(".dockerignore", None, ".git\n"),
        FileEdit("pom.xml", "<project>changed</project>\n", "x"),  # not what is on disk
    )
    with pytest.raises(ScmError, match=r"pom\.xml changed since it was read"):
        tree.write_all(stale)
    assert (repo / "Dockerfile").read_text() == "FROM a\n" and not (repo / ".dockerignore").exists()
    failing = (  # the last write fails part-way: its parent is a file
        FileEdit("Dockerfile", "FROM a\n", "FROM b\n"),
        FileEdit(".dockerignore", None, ".git\n"),
        FileEdit("pom.xml/inner", None, "x"),
    )
    with pytest.raises((FileExistsError, NotADirectoryError)):
        tree.write_all(failing)
    assert (repo / "Dockerfile").read_text() == "FROM a\n" and not (repo / ".dockerignore").exists()


def test_a_file_that_is_there_but_not_text_is_never_replaced(tmp_path: Path) -> None:
    """read() cannot use it (not UTF-8), so a plan may take it for absent and create it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".dockerignore").write_bytes(b"# caf\xe9\nsecrets/\n")
    tree = WorkTree(repo)
    assert tree.read(".dockerignore") is None
    with pytest.raises(ScmError, match=r"refusing to create \.dockerignore"):
        tree.write_all((FileEdit(".dockerignore", None, ".git\n"),))
    assert (repo / ".dockerignore").read_bytes() == b"# caf\xe9\nsecrets/\n"


def test_a_checkout_that_cannot_be_written_is_a_clear_error(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (checkout / ".dockerignore").mkdir()  # where the fix would create a file
    code, output = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 2 and "refusing to create .dockerignore" in output
    (checkout / ".dockerignore").rmdir()

    def full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.scm.worktree.os.replace", full)
    code, output = run("--repo", str(checkout), report_data=report(*FINDINGS), tmp=tmp_path)
    assert code == 2 and "could not write the checkout: [Errno 28] No space left" in output
    assert (checkout / "Dockerfile").read_text() == DOCKERFILE  # all or nothing
    assert not (checkout / ".dockerignore").exists()


def test_fix_branch_names_come_from_the_image_repository_not_its_host() -> None:
    from app.cli import _image_repository

    assert _image_repository("localhost:5000/team/app:1.2") == "team/app"
    assert _image_repository("registry.example/acme/web@sha256:" + "a" * 64) == "acme/web"
    assert _image_repository("oci-layout:/tmp/x") == "oci-layout:/tmp/x"
