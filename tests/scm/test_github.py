"""Pull requests on the local GitHub (checked against GitHub's OpenAPI description): the
lifecycle scenarios people judge a PR bot by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import GitHubSettings, Settings
from app.jobs import pipeline
from app.models import (
    BaseImage,
    Builder,
    FileEdit,
    Finding,
    FixPlan,
    PlatformReport,
    PushEvent,
    Report,
    Severity,
    SourceHint,
)
from app.remediation.plan import branch_for, plan
from app.scm import ScmError
from app.scm.github import GitHub, GitHubError, read_marker
from app.scm.pulls import Limits, publish
from app.store.db import Database
from tests.support.github import TOKEN, GitHubServer, github_server_fixture  # noqa: F401

DOCKERFILE = 'FROM debian:12\nCOPY . /app\nCMD ["/app/run"]\n'
IMAGE = "registry.example/acme/web"
BRANCH = branch_for("acme/web")
ROOT = Finding("root-user", Severity.HIGH, "Container runs as root", "config User is empty")
GIT = Finding("vcs-directory", Severity.MEDIUM, "VCS data", ".git directory", path="app/.git")
KEY = Finding(
    "secret-file",
    Severity.CRITICAL,
    "Private key",
    "PEM private key (fp 1a2b3c4d)",
    path="app/.env",
)


def report(
    *findings: Finding, digest: str = "sha256:" + "a" * 64, source: str | None = None
) -> Report:
    platform = PlatformReport(
        "linux/amd64", "sha256:" + "b" * 64, "", Builder("dockerfile", "buildkit"), BaseImage(),
        SourceHint(repository=source), findings,
    )  # fmt: skip
    return Report(f"{IMAGE}:1", digest, (platform,))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def host(server: GitHubServer, **settings: object) -> tuple[GitHub, Sleeps]:
    sleeps = Sleeps()
    config = GitHubSettings.model_validate(
        {"base_url": server.url, "token": TOKEN, "write_interval": 0, **settings}
    )
    return GitHub(config, sleep=sleeps), sleeps


def run(github: GitHub, rep: Report, created_last_hour: int = 0):  # type: ignore[no-untyped-def]
    tree = github.checkout("acme/web")
    planned = plan(rep, tree, "acme/web", "", "acme/web")
    return publish(github, tree, planned, rep, BRANCH, Limits(created_last_hour))


@pytest.fixture
def server(github_server: GitHubServer) -> GitHubServer:
    github_server.create_repo("acme", "web", {"Dockerfile": DOCKERFILE, "README.md": "hi\n"})
    return github_server


def make_event() -> PushEvent:
    return PushEvent(
        "local", "distribution", "registry.example", "acme/web", "sha256:" + "a" * 64, "1",
        None, "delivery-1", datetime.now(UTC),
    )  # fmt: skip


def posts(server: GitHubServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method in ("POST", "PATCH", "PUT")]


def test_first_pr_is_one_commit_with_labels_marker_and_no_secret(server: GitHubServer) -> None:
    github, _ = host(server)
    outcome = run(github, report(ROOT, GIT, KEY))
    assert outcome.status == "created" and outcome.number == 1
    [pull] = server.pulls("acme", "web")
    assert pull.head == BRANCH and pull.base == "main" and pull.labels == ["tightship", "security"]
    assert "USER 65532:65532" in server.file_at("acme", "web", BRANCH, "Dockerfile")
    assert "**/.git" in server.file_at("acme", "web", BRANCH, ".dockerignore")
    body = pull.body or ""
    assert read_marker(body) is not None and "| `root-user` | high |" in body
    assert (
        "sha256:" + "a" * 64 in body
        and "docs/rules.md" in body
        and "Rotate this credential" in body
    )
    # exactly one commit on top of main, made through the Git Data API
    assert [p.split(" ")[1].rsplit("/", 1)[-1] for p in posts(server)][:3] == [
        "blobs",
        "blobs",
        "trees",
    ]
    assert sum(p.endswith("/git/commits") for p in posts(server)) == 1


def test_same_findings_again_change_nothing(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    before = posts(server)
    outcome = run(github, report(ROOT, digest="sha256:" + "c" * 64))
    assert outcome.status == "unchanged" and posts(server) == before


def test_changed_findings_update_the_pr_in_place(server: GitHubServer) -> None:
    github, _ = host(server)
    first = run(github, report(ROOT))
    head_before = server.repo("acme", "web").refs[f"refs/heads/{BRANCH}"]
    outcome = run(github, report(ROOT, GIT))
    assert outcome.status == "updated" and outcome.number == first.number
    assert server.repo("acme", "web").refs[f"refs/heads/{BRANCH}"] != head_before
    assert "**/.git" in server.file_at("acme", "web", BRANCH, ".dockerignore")
    assert len(server.pulls("acme", "web")) == 1 and "vcs-directory" in (
        server.pulls("acme", "web")[0].body or ""
    )


def test_a_human_commit_is_never_force_pushed_over(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    human = server.commit_as("acme", "web", BRANCH, {"notes.txt": "mine\n"}, author="alice")
    outcome = run(github, report(ROOT, GIT))
    assert outcome.status == "refused" and "alice" in outcome.detail
    assert server.repo("acme", "web").refs[f"refs/heads/{BRANCH}"] == human
    [pull] = server.pulls("acme", "web")
    assert any("will not force-push" in c.body for c in pull.comments)


def test_closed_unmerged_is_ignored_until_the_findings_change(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    server.close_pull("acme", "web", 1)
    outcome = run(github, report(ROOT))
    assert outcome.status == "ignored" and server.pulls("acme", "web")[0].state == "closed"
    changed = run(github, report(ROOT, GIT))
    assert changed.status == "reopened" and changed.number == 1
    assert [p.state for p in server.pulls("acme", "web")].count("open") == 1


def test_merged_pr_gets_a_comment_when_the_next_image_still_has_the_finding(
    server: GitHubServer,
) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    server.merge_pull("acme", "web", 1)
    assert "USER 65532:65532" in server.file_at("acme", "web", "main", "Dockerfile")
    still = run(github, report(ROOT, digest="sha256:" + "d" * 64))
    assert still.status == "commented" and still.number == 1
    [pull] = server.pulls("acme", "web")
    assert any("still has `root-user`" in c.body for c in pull.comments)
    fixed = run(github, report(digest="sha256:" + "e" * 64))
    assert fixed.status == "merged" and len(server.pulls("acme", "web")) == 1


def test_rate_limit_403_with_retry_after_is_waited_out(server: GitHubServer) -> None:
    github, sleeps = host(server)
    server.fail_next("POST", "/repos/*/git/blobs", 403, {"Retry-After": "7"})
    outcome = run(github, report(ROOT))
    assert outcome.status == "created" and sleeps == [7.0]
    server.fail_next("*", "/repos/*/pulls*", 403, {"Retry-After": "3600"})
    github2, _ = host(server)
    with pytest.raises(GitHubError) as caught:
        run(github2, report(ROOT, GIT, digest="sha256:" + "f" * 64), 0)
    assert caught.value.transient  # too long to wait in a job: the queue retries later


def test_a_502_mid_sequence_then_a_retry_makes_exactly_one_pr(server: GitHubServer) -> None:
    github, sleeps = host(server)
    server.fail_next("POST", "/repos/*/pulls", 502, times=4)
    with pytest.raises(GitHubError) as caught:
        run(github, report(ROOT))
    assert caught.value.transient and sleeps == [1.0, 2.0, 4.0]
    assert server.pulls("acme", "web") == []  # the branch exists, the PR does not yet
    server.fail_next("POST", "/repos/*/git/trees", 502)
    retried = run(github, report(ROOT))
    assert retried.status == "created" and len(server.pulls("acme", "web")) == 1
    assert run(github, report(ROOT)).status == "unchanged"


def test_limits_hold_prs_back_and_say_so(server: GitHubServer) -> None:
    github, _ = host(server, max_new_per_hour=2)
    held = run(github, report(ROOT), created_last_hour=2)
    assert held.status == "held" and "2 PRs in the past hour" in held.detail
    assert server.pulls("acme", "web") == []
    github, _ = host(server, max_open_per_repository=1)
    server.commit_as("acme", "web", "tightship/other", {"x": "y\n"}, author="tightship")
    tree = github.checkout("acme/web")
    tree.repo.create_pull(base="main", head="tightship/other", title="other", body="x")
    held = run(github, report(ROOT))
    assert held.status == "held" and "1 open Tightship PRs" in held.detail


def test_only_build_files_are_ever_written(server: GitHubServer) -> None:
    github, _ = host(server)
    tree = github.checkout("acme/web")
    for path in (".github/workflows/ci.yml", "README.md", "../x/Dockerfile"):
        bad = FixPlan("acme/web", BRANCH, "t", "b", (FileEdit(path, None, "x"),), ("root-user",))
        with pytest.raises(GitHubError if path == "README.md" else ScmError):
            github.push(tree, bad)
    assert not any(p.endswith(("/git/blobs", "/git/refs")) for p in posts(server))


def test_app_auth_token_is_cached_until_shortly_before_it_expires(
    server: GitHubServer, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    server.add_app(4242, public)
    server.install_app(4242, "acme")
    (tmp_path / "app.pem").write_text(pem)
    github, _ = host(
        server, token=None, app={"id": 4242, "private_key_file": str(tmp_path / "app.pem")}
    )
    assert run(github, report(ROOT)).status == "created"
    assert run(github, report(ROOT)).status == "unchanged"
    tokens = [r for r in server.requests if r.path.endswith("/access_tokens")]
    assert len(tokens) == 1  # one installation token for both jobs
    [pull] = server.pulls("acme", "web")
    assert pull.user.login.endswith("[bot]")


def test_pipeline_refuses_a_label_pointing_at_a_disallowed_repository(
    server: GitHubServer, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "scm": {
                "provider": "github",
                "github": {"base_url": server.url, "token": TOKEN, "write_interval": 0},
            },
            "repositories": {"allow": ["acme/*"]},
        }
    )
    db = Database(settings.database_url)
    db.migrate()
    event = PushEvent(
        "r",
        "distribution",
        "registry.example",
        "acme/web",
        "sha256:" + "a" * 64,
        "1",
        None,
        "d1",
        __import__("datetime").datetime.now(__import__("datetime").UTC),
    )
    spoofed = report(ROOT, source="https://github.com/evil/elsewhere")
    outcome = pipeline._fix(settings, db, spoofed, event)
    assert outcome.status == "refused" and "evil/elsewhere" in outcome.detail
    assert posts(server) == []
    labelled = report(ROOT, source="https://github.com/acme/web")
    outcome = pipeline._fix(settings, db, labelled, event)
    assert outcome.status == "created" and outcome.pull_number == 1
    planned_settings = settings.model_copy(
        update={"scm": settings.scm.model_copy(update={"mode": "plan"})}
    )
    outcome = pipeline._fix(
        planned_settings, db, report(ROOT, GIT, source="https://github.com/acme/web"), event
    )
    assert (
        outcome.status == "planned"
        and (tmp_path / "plans" / "acme" / "web" / "acme-web.diff").exists()
    )


def test_modes_default_to_plan_without_credentials_and_report_writes_nothing(
    server: GitHubServer, tmp_path: Path
) -> None:
    bare = Settings.model_validate({"scm": {"provider": "github"}})
    assert bare.scm.effective_mode == "plan"
    with_token = Settings.model_validate({"scm": {"provider": "github", "github": {"token": "t"}}})
    assert with_token.scm.effective_mode == "full"
    report_only = Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "scm": {
                "provider": "github",
                "mode": "report",
                "github": {"base_url": server.url, "token": TOKEN},
            },
            "repositories": {"allow": ["acme/*"]},
        }
    )
    db = Database(report_only.database_url)
    db.migrate()
    outcome = pipeline._fix(
        report_only, db, report(ROOT, source="https://github.com/acme/web"), make_event()
    )
    assert outcome.status == "skipped" and "findings only" in outcome.detail
    assert server.requests == []
    with pytest.raises(ValueError, match="a token or an app, not both"):
        GitHubSettings.model_validate({"token": "t", "app": {"id": 1, "private_key": "k"}})


# --- what a review found ---------------------------------------------------------------------


def rebuilt(finding: Finding, layer: str) -> Finding:
    """The same finding in a rebuilt image: every layer digest moves."""
    return Finding(
        finding.rule, finding.severity, finding.title, finding.evidence, finding.path, layer
    )


def test_a_rebuild_with_the_same_findings_is_not_a_change(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(rebuilt(GIT, "sha256:" + "1" * 64)))
    again = run(github, report(rebuilt(GIT, "sha256:" + "2" * 64), digest="sha256:" + "c" * 64))
    assert again.status == "unchanged"
    server.close_pull("acme", "web", 1)
    closed = run(github, report(rebuilt(GIT, "sha256:" + "3" * 64), digest="sha256:" + "d" * 64))
    assert closed.status == "ignored" and server.pulls("acme", "web")[0].state == "closed"


def test_an_amended_tightship_commit_is_someone_elses(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    repo = server.repo("acme", "web")
    head = repo.refs[f"refs/heads/{BRANCH}"]
    # alice amends Tightship's commit: same message and parent, her content, a new hash
    amended = server.commit_as("acme", "web", BRANCH, {"notes.txt": "mine\n"}, author="alice")
    assert amended != head
    outcome = run(github, report(ROOT, GIT))
    assert outcome.status == "refused" and repo.refs[f"refs/heads/{BRANCH}"] == amended


def test_after_a_merge_with_human_commits_the_rest_gets_a_new_pr_and_one_comment(
    server: GitHubServer,
) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    server.commit_as("acme", "web", BRANCH, {"notes.txt": "bob\n"}, author="bob")
    server.merge_pull("acme", "web", 1)
    for letter in "def":  # three later images still run as root
        run(github, report(ROOT, digest="sha256:" + letter * 64))
    merged = server.pulls("acme", "web")[0]
    assert sum("still has `root-user`" in c.body for c in merged.comments) == 1
    rest = run(github, report(ROOT, GIT, digest="sha256:" + "9" * 64))
    assert rest.status == "created" and rest.number == 2  # bob's merged work is not in the way


def test_retry_after_as_an_http_date_is_understood(server: GitHubServer) -> None:
    github, sleeps = host(server)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.fail_next("POST", "/repos/*/git/blobs", 429, {"Retry-After": when})
    assert run(github, report(ROOT)).status == "created"
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31


def test_a_closed_pr_whose_marker_was_edited_out_stays_closed(server: GitHubServer) -> None:
    github, _ = host(server)
    run(github, report(ROOT))
    pull = server.repo("acme", "web").pulls[1]
    pull.body = "we do not want this"
    server.close_pull("acme", "web", 1)
    outcome = run(github, report(ROOT, GIT, digest="sha256:" + "e" * 64))
    assert outcome.status == "ignored" and server.pulls("acme", "web")[0].state == "closed"
