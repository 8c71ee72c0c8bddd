"""The local GitHub works with the real client (PyGithub) and catches traffic off GitHub's spec."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, BadCredentialsException, GithubException, GithubIntegration
from github.InputGitTreeElement import InputGitTreeElement

from tests.support.git import git, make_repo
from tests.support.github import (
    TOKEN,
    GitHubServer,
    client,
    github_server_fixture,  # noqa: F401
    payloads,
)
from tests.support.github.openapi import Match, to_json_schema
from tests.support.github.routes import HANDLERS
from tests.support.github.server import description

FILES = {"Dockerfile": "FROM python:3.12\nUSER root\n", "src/app.py": "print('hi')\n"}
APP_ID = 4242


def _rsa_pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return _rsa_pem_pair()


@pytest.fixture
def server(github_server: GitHubServer) -> GitHubServer:
    github_server.create_repo("acme", "app", FILES)
    return github_server


def _integration(server: GitHubServer, private_key: str) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(APP_ID, private_key),
        base_url=server.url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_every_operation_in_the_description_has_a_handler() -> None:
    ids = {operation.operation_id for operation in description().operations}
    assert len(ids) == 23
    assert set(HANDLERS) == ids


def test_openapi_schemas_become_json_schema() -> None:
    assert to_json_schema({"type": "string", "nullable": True, "example": "x"}, "response") == {
        "type": ["string", "null"]
    }
    assert to_json_schema({"enum": ["a"], "type": "string", "nullable": True}, "response") == {
        "enum": ["a", None],
        "type": ["string", "null"],
    }
    assert to_json_schema({"oneOf": [{"type": "integer"}], "nullable": True}, "request") == {
        "anyOf": [{"anyOf": [{"type": "integer"}]}, {"type": "null"}]
    }
    read_only = {
        "type": "object",
        "properties": {"id": {"type": "integer", "readOnly": True}, "x-note": {}},
        "required": ["id"],
        "x-github": {"internal": True},
    }
    assert to_json_schema(read_only, "request")["required"] == []
    assert to_json_schema(read_only, "response")["required"] == ["id"]
    assert "x-github" not in to_json_schema(read_only, "response")


def test_paths_with_slashes_match_their_operation() -> None:
    found = description().match("PATCH", "/repos/o/r/git/refs/heads/bot/fix-1")
    assert isinstance(found, Match)
    assert found.operation.operation_id == "git/update-ref"
    assert found.params["ref"] == "heads/bot/fix-1"
    found = description().match("GET", "/repos/o/r/pulls/7/merge")
    assert isinstance(found, Match)
    assert found.params == {"owner": "o", "repo": "r", "pull_number": 7}
    assert description().match("GET", "/repos/o/r/pulls/seven") == [
        "GET /repos/o/r/pulls/seven: GET /repos/{owner}/{repo}/pulls/{pull_number} (pulls/get)"
        " path parameter pull_number='seven' is not an integer"
    ]


def test_object_shas_are_the_ones_git_computes(server: GitHubServer, tmp_path: Path) -> None:
    checkout = make_repo(tmp_path, "app", FILES)
    repo = server.repo("acme", "app")
    ours = repo.commit(repo.refs["refs/heads/main"]).tree
    assert ours == git(checkout, "rev-parse", "HEAD^{tree}").strip()


def test_git_data_api_round_trip(server: GitHubServer) -> None:
    repo = client(server).get_repo("acme/app")
    assert repo.default_branch == "main"
    base = repo.get_git_ref("heads/main").object.sha
    base_tree = repo.get_git_tree(repo.get_git_commit(base).tree.sha)
    blob = repo.create_git_blob("FROM python:3.12-slim\nUSER app\n", "utf-8")
    tree = repo.create_git_tree(
        [
            InputGitTreeElement("Dockerfile", "100644", "blob", sha=blob.sha),
            InputGitTreeElement("deploy/k8s/app.yaml", "100644", "blob", content="kind: Pod\n"),
        ],
        base_tree,
    )
    commit = repo.create_git_commit("Slim the image", tree, [repo.get_git_commit(base)])
    repo.create_git_ref("refs/heads/bot/slim", commit.sha)

    assert repo.get_git_ref("heads/bot/slim").object.sha == commit.sha
    assert commit.parents[0].sha == base
    got = repo.get_contents("Dockerfile", ref="bot/slim")
    assert not isinstance(got, list)
    assert got.decoded_content == b"FROM python:3.12-slim\nUSER app\n"
    assert got.sha == blob.sha
    listing = repo.get_git_tree(commit.sha, recursive=True).tree
    assert {e.path: e.type for e in listing} == {
        "Dockerfile": "blob",
        "deploy": "tree",
        "deploy/k8s": "tree",
        "deploy/k8s/app.yaml": "blob",
        "src": "tree",
        "src/app.py": "blob",
    }
    assert server.file_at("acme", "app", "main", "Dockerfile") == FILES["Dockerfile"]
    assert repo.get_git_commit(commit.sha).raw_data["verification"]["verified"] is True
    assert [(r.method, r.path) for r in server.requests][-3:] == [
        ("GET", "/repos/acme/app/contents/Dockerfile"),
        ("GET", f"/repos/acme/app/git/trees/{commit.sha}"),
        ("GET", f"/repos/acme/app/git/commits/{commit.sha}"),
    ]


def test_branches_files_and_rate_limit(server: GitHubServer) -> None:
    g = client(server)
    repo = g.get_repo("acme/app")
    assert repo.get_branch("main").commit.sha == repo.get_git_ref("heads/main").object.sha
    created = repo.create_file("docs/README.md", "Add docs", "hello\n", branch="main")
    assert created["content"].path == "docs/README.md"
    current = repo.get_contents("docs/README.md")
    assert not isinstance(current, list)
    repo.update_file("docs/README.md", "Edit docs", "hello again\n", current.sha, branch="main")
    assert server.file_at("acme", "app", "main", "docs/README.md") == "hello again\n"
    with pytest.raises(GithubException) as stale:
        repo.update_file("docs/README.md", "Stale edit", "x\n", current.sha, branch="main")
    assert stale.value.status == 409
    directory = repo.get_contents("docs")
    assert isinstance(directory, list)
    assert [item.path for item in directory] == ["docs/README.md"]

    repo.create_git_ref("refs/heads/tmp", repo.get_branch("main").commit.sha)
    repo.get_git_ref("heads/tmp").delete()
    with pytest.raises(GithubException) as gone:
        repo.get_git_ref("heads/tmp")
    assert gone.value.status == 404
    limit = g.get_rate_limit()
    assert limit.resources.core.limit == 5000
    assert 0 < limit.resources.core.remaining < 5000


def _branch_with_change(server: GitHubServer, branch: str, text: str) -> None:
    server.commit_as("acme", "app", branch, {"Dockerfile": text}, author="tightship-dev")


def test_pull_request_flow(server: GitHubServer) -> None:
    _branch_with_change(server, "bot/fix", "FROM python:3.12-slim\n")
    repo = client(server).get_repo("acme/app")
    pull = repo.create_pull("main", "bot/fix", title="Slim base image", body="v1")
    assert (pull.number, pull.state, pull.changed_files, pull.merged) == (1, "open", 1, False)

    found = list(repo.get_pulls(state="all", head="acme:bot/fix"))
    assert [p.number for p in found] == [1]
    assert list(repo.get_pulls(state="all", head="someone-else:bot/fix")) == []
    pull.edit(body="v2")
    pull.add_to_labels("image-hygiene", "security")
    comment = pull.create_issue_comment("Findings changed.")
    assert comment.user.login == "octocat"
    again = repo.get_pull(1)
    assert again.body == "v2"
    assert [label.name for label in again.labels] == ["image-hygiene", "security"]
    assert again.comments == 1

    with pytest.raises(GithubException) as duplicate:
        repo.create_pull("main", "bot/fix", title="Again")
    assert duplicate.value.status == 422
    assert "already exists" in duplicate.value.data["errors"][0]["message"]

    assert not pull.is_merged()
    server.merge_pull("acme", "app", 1)
    assert pull.is_merged()
    assert repo.get_pull(1).merged
    assert server.file_at("acme", "app", "main", "Dockerfile") == "FROM python:3.12-slim\n"
    assert list(repo.get_pulls(state="open")) == []

    _branch_with_change(server, "bot/other", "FROM alpine\n")
    other = repo.create_pull("main", "bot/other", title="Alpine")
    server.close_pull("acme", "app", other.number)
    assert repo.get_pull(other.number).state == "closed"
    assert [p.number for p in server.pulls("acme", "app")] == [1, 2]


def test_pull_list_is_paginated(server: GitHubServer) -> None:
    for n in range(3):
        _branch_with_change(server, f"bot/{n}", f"FROM x:{n}\n")
        client(server).get_repo("acme/app").create_pull("main", f"bot/{n}", title=f"PR {n}")
    g = client(server)
    g.per_page = 2
    pulls = g.get_repo("acme/app").get_pulls()
    assert pulls.totalCount == 3
    assert [p.number for p in pulls] == [3, 2, 1]


def test_non_fast_forward_update_needs_force(server: GitHubServer) -> None:
    repo = client(server).get_repo("acme/app")
    base = repo.get_git_commit(repo.get_git_ref("heads/main").object.sha)
    tree = repo.create_git_tree(
        [InputGitTreeElement("Dockerfile", "100644", "blob", content="FROM scratch\n")],
        repo.get_git_tree(base.tree.sha),
    )
    ours = repo.create_git_commit("Bot commit", tree, [base])
    ref = repo.create_git_ref("refs/heads/bot/fix", ours.sha)
    human = server.commit_as("acme", "app", "bot/fix", {"NOTES": "mine\n"}, author="alice")

    replacement = repo.create_git_commit("Bot commit, regenerated", tree, [base])
    with pytest.raises(GithubException) as refused:
        ref.edit(replacement.sha)
    assert refused.value.status == 422
    assert refused.value.data["message"] == "Update is not a fast forward"
    assert server.repo("acme", "app").refs["refs/heads/bot/fix"] == human

    ref.edit(replacement.sha, force=True)
    assert repo.get_git_ref("heads/bot/fix").object.sha == replacement.sha
    assert repo.get_git_commit(human).author.name == "alice"


def test_app_installation_token(server: GitHubServer, app_key: tuple[str, str]) -> None:
    private, public = app_key
    server.add_app(APP_ID, public)
    installation_id = server.install_app(APP_ID, "acme").id
    integration = _integration(server, private)

    installation = integration.get_repo_installation("acme", "app")
    assert installation.id == installation_id
    token = integration.get_access_token(installation.id)
    assert token.token.startswith("ghs_")
    assert token.expires_at.timestamp() > time.time() + 3000

    repo = client(server, Auth.Token(token.token)).get_repo("acme/app")
    _branch_with_change(server, "bot/fix", "FROM python:3.12-slim\n")
    pull = repo.create_pull("main", "bot/fix", title="Slim")
    assert pull.user.login == "tightship[bot]"
    server.create_repo("someone", "private", FILES)
    with pytest.raises(GithubException) as hidden:
        client(server, Auth.Token(token.token)).get_repo("someone/private")
    assert hidden.value.status == 404


def test_bad_jwt_and_bad_token_are_401(server: GitHubServer, app_key: tuple[str, str]) -> None:
    server.add_app(APP_ID, app_key[1])
    server.install_app(APP_ID, "acme")
    stranger, _ = _rsa_pem_pair()
    with pytest.raises(GithubException) as forged:
        _integration(server, stranger).get_repo_installation("acme", "app")
    assert forged.value.status == 401
    assert forged.value.data["message"].startswith("A JSON web token could not be decoded")
    now = int(time.time())
    expired = jwt.encode(
        {"iat": now - 1200, "exp": now - 600, "iss": str(APP_ID)}, app_key[0], "RS256"
    )
    answer = requests.get(
        f"{server.url}/repos/acme/app/installation",
        headers={"Authorization": f"Bearer {expired}"},
        timeout=5,
    )
    assert answer.status_code == 401
    assert "expired" in answer.json()["message"]
    with pytest.raises(BadCredentialsException):
        client(server, Auth.Token("ghp_wrong")).get_repo("acme/app")


def test_injected_rate_limit_reaches_the_client(server: GitHubServer) -> None:
    reset = str(int(time.time()) + 60)
    server.fail_next(
        "GET",
        "/repos/acme/*",
        403,
        {"Retry-After": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
    )
    url, headers = f"{server.url}/repos/acme/app", {"Authorization": f"token {TOKEN}"}
    limited = requests.get(url, headers=headers, timeout=5)
    assert limited.status_code == 403
    assert limited.headers["Retry-After"] == "30"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-reset"] == reset
    assert "secondary rate limit" in limited.json()["message"]
    assert requests.get(url, headers=headers, timeout=5).status_code == 200

    server.fail_next("*", "*", 502, times=2)
    with pytest.raises(GithubException) as outage:
        client(server).get_repo("acme/app")
    assert outage.value.status == 502
    assert requests.get(url, headers=headers, timeout=5).status_code == 502
    assert requests.get(url, headers=headers, timeout=5).status_code == 200


def test_request_body_off_the_spec_is_caught(server: GitHubServer) -> None:
    answer = requests.post(
        f"{server.url}/repos/acme/app/git/refs",
        json={"ref": "refs/heads/x"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 422
    mismatches = server.take_mismatches()
    assert len(mismatches) == 1
    assert "git/create-ref" in mismatches[0]
    assert "'sha' is a required property" in mismatches[0]


def test_response_off_the_spec_is_caught(
    server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    shape = payloads.Shapes.git_ref

    def without_node_id(self: payloads.Shapes, repo: object, ref: str) -> dict:
        body = shape(self, repo, ref)  # type: ignore[arg-type]
        del body["node_id"]
        return body

    monkeypatch.setattr(payloads.Shapes, "git_ref", without_node_id)
    client(server).get_repo("acme/app").get_git_ref("heads/main")
    mismatches = server.take_mismatches()
    assert len(mismatches) == 1
    assert "git/get-ref" in mismatches[0]
    assert "'node_id' is a required property" in mismatches[0]


def test_unknown_endpoints_are_recorded(server: GitHubServer) -> None:
    answer = requests.get(
        f"{server.url}/repos/acme/app/hooks",
        headers={"Authorization": f"token {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 404
    assert server.take_mismatches() == [
        "GET /repos/acme/app/hooks: no operation in the description has this path"
    ]
