"""Branches in local checkouts: made with plumbing, never touching the working tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import RepositoriesSettings
from app.models import FileEdit, FixPlan, SourceHint
from app.scm import LocalRepository, Refusal, ScmError, choose
from app.scm.target import repository_from_url
from tests.support.git import git, make_repo

POM = "<project>\n  <build/>\n</project>\n"


def plan(new: str, path: str = "pom.xml") -> FixPlan:
    return FixPlan(
        repository="acme/orders",
        branch="tightship/acme-orders",
        title="Tighten acme/orders: fix root-user",
        body="why",
        edits=(FileEdit(path=path, old=POM, new=new),),
        rules=("root-user",),
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repos", "acme/orders", {"pom.xml": POM, "mvnw": "#!/bin/sh\n"})


def open_repo(tmp_path: Path) -> LocalRepository:
    return LocalRepository(tmp_path / "repos", "acme/orders", "Tightship", "tightship@localhost")


def test_branch_is_created_without_touching_the_checkout(tmp_path: Path, checkout: Path) -> None:
    (checkout / "pom.xml").write_text(POM + "<!-- uncommitted work -->\n")
    (checkout / "notes.txt").write_text("untracked")
    git(checkout, "add", "notes.txt")
    status_before = git(checkout, "status", "--porcelain")
    head_before = git(checkout, "rev-parse", "HEAD")

    repo = open_repo(tmp_path)
    assert repo.read("pom.xml") == POM  # the committed base, not the working tree
    outcome = repo.apply(plan(POM.replace("<build/>", "<build><x/></build>")))

    assert outcome.status == "created"
    assert git(checkout, "status", "--porcelain") == status_before
    assert git(checkout, "rev-parse", "HEAD") == head_before
    assert git(checkout, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert (checkout / "pom.xml").read_text().endswith("<!-- uncommitted work -->\n")
    assert git(checkout, "show", "tightship/acme-orders:pom.xml") == POM.replace(
        "<build/>", "<build><x/></build>"
    )
    assert git(checkout, "diff", "--name-only", "main", "tightship/acme-orders").split() == [
        "pom.xml"
    ]
    message = git(checkout, "log", "-1", "--format=%an <%ae>%n%B", "tightship/acme-orders")
    assert message.startswith("Tightship <tightship@localhost>\nTighten acme/orders: fix root-user")
    assert "Tightship-Fingerprint: " in message


def test_rerun_changes_nothing_and_new_edits_update(tmp_path: Path, checkout: Path) -> None:
    repo = open_repo(tmp_path)
    first = repo.apply(plan(POM + "<!-- a -->\n"))
    again = repo.apply(plan(POM + "<!-- a -->\n"))
    assert (again.status, again.commit) == ("unchanged", first.commit)
    updated = repo.apply(plan(POM + "<!-- b -->\n"))
    assert updated.status == "updated" and updated.commit != first.commit
    assert git(checkout, "rev-list", "--count", "main..tightship/acme-orders").strip() == "1"


def test_someone_elses_commit_on_the_branch_is_never_overwritten(
    tmp_path: Path, checkout: Path
) -> None:
    repo = open_repo(tmp_path)
    repo.apply(plan(POM + "<!-- a -->\n"))
    git(checkout, "checkout", "-q", "tightship/acme-orders")
    (checkout / "pom.xml").write_text(POM + "<!-- reviewer tweak -->\n")
    git(checkout, "commit", "-qam", "tweak")
    git(checkout, "checkout", "-q", "main")
    tip = git(checkout, "rev-parse", "tightship/acme-orders").strip()

    outcome = open_repo(tmp_path).apply(plan(POM + "<!-- b -->\n"))
    assert outcome.status == "refused" and "dev@example.com" in outcome.detail
    assert git(checkout, "rev-parse", "tightship/acme-orders").strip() == tip


def test_file_mode_is_kept(tmp_path: Path, checkout: Path) -> None:
    git(checkout, "update-index", "--chmod=+x", "mvnw")
    git(checkout, "commit", "-qm", "exec")
    outcome = open_repo(tmp_path).apply(plan("#!/bin/sh\necho\n", path="mvnw"))
    assert git(checkout, "ls-tree", outcome.commit, "mvnw").startswith("100755")


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", ".git/config", ".github/workflows/ci.yml", "a//b"]
)
def test_paths_outside_build_files_are_refused(tmp_path: Path, checkout: Path, path: str) -> None:
    with pytest.raises(ScmError, match="refusing to write"):
        open_repo(tmp_path).apply(plan("x", path=path))
    assert "tightship/acme-orders" not in git(checkout, "branch", "--list")


def test_missing_or_escaping_repository(tmp_path: Path, checkout: Path) -> None:
    with pytest.raises(ScmError, match="no git checkout"):
        LocalRepository(tmp_path / "repos", "acme/missing", "T", "t@x")
    with pytest.raises(ScmError, match="outside"):
        LocalRepository(tmp_path / "repos", "../..", "T", "t@x")
    assert repository_from_url("https://github.com/acme/..") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/orders", "acme/orders"),
        ("https://github.com/acme/orders.git", "acme/orders"),
        ("git@github.com:acme/orders.git", "acme/orders"),
        ("github.com/acme/orders/tree/main/svc", "acme/orders"),
        ("https://github.com/acme", None),
        ("https://github.com/a c/b", None),
    ],
)
def test_repository_from_label_url(url: str, expected: str | None) -> None:
    assert repository_from_url(url) == expected


def test_map_rule_beats_label_and_allow_list_always_applies() -> None:
    repositories = RepositoriesSettings(
        allow=["acme/*"],
        map=[{"image": "reg/acme/orders*", "repo": "acme/orders", "path": "svc"}],
    )
    label = SourceHint(repository="https://github.com/acme/other")
    chosen = choose(repositories, "reg/acme/orders-api", label)
    assert (chosen.repository, chosen.path) == ("acme/orders", "svc")
    assert choose(repositories, "reg/acme/web", label).repository == "acme/other"
    spoofed = choose(
        repositories, "reg/acme/web", SourceHint(repository="https://github.com/evil/x")
    )
    assert isinstance(spoofed, Refusal) and "not in repositories.allow" in spoofed.reason
    assert isinstance(choose(repositories, "reg/acme/web", SourceHint()), Refusal)


def test_the_fix_is_based_on_the_default_branch_not_the_checked_out_one(
    tmp_path: Path, checkout: Path
) -> None:
    git(checkout, "checkout", "-q", "-b", "feature")
    (checkout / "pom.xml").write_text(POM + "<!-- unfinished feature -->\n")
    git(checkout, "commit", "-qam", "wip")
    outcome = open_repo(tmp_path).apply(plan(POM + "<!-- fix -->\n"))
    assert (
        git(checkout, "rev-parse", f"{outcome.commit}^").strip()
        == git(checkout, "rev-parse", "main").strip()
    )
    assert "unfinished feature" not in git(checkout, "show", "tightship/acme-orders:pom.xml")
    explicit = LocalRepository(tmp_path / "repos", "acme/orders", "T", "t@x", base_branch="feature")
    assert explicit.read("pom.xml").endswith("<!-- unfinished feature -->\n")


@pytest.mark.parametrize("name", ["acme/..", "../acme", "acme/.", "acme", "acme/orders/x"])
def test_dot_and_odd_repository_names_are_refused(
    tmp_path: Path, checkout: Path, name: str
) -> None:
    with pytest.raises(ScmError, match="outside the repositories root"):
        LocalRepository(tmp_path / "repos", name, "T", "t@x")
