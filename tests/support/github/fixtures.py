"""pytest glue for the local GitHub: a fixture that fails the test on any spec mismatch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from github import Auth, Github

from tests.support.github.server import GitHubServer

TOKEN = "ghp_localGitHubTestToken000000000000000"


@contextmanager
def start_github_server(login: str = "octocat", **options: Any) -> Iterator[GitHubServer]:
    """A running server that accepts `TOKEN` as `login`; stopped on exit."""
    server = GitHubServer(**options)
    server.add_token(TOKEN, login)
    with server:
        yield server


@pytest.fixture(name="github_server")
def github_server_fixture() -> Iterator[GitHubServer]:
    """`github_server`: a server for one test, failing it on traffic off GitHub's description.

    Import `github_server_fixture` into a test module (or a conftest.py) and ask for
    `github_server`; the two names differ so linters do not see the argument as a shadowed
    import. A test that provokes a mismatch on purpose takes it with `take_mismatches()`.
    """
    with start_github_server() as server:
        yield server
        mismatches = server.take_mismatches()
    if mismatches:
        pytest.fail(
            "traffic to the local GitHub does not fit GitHub's OpenAPI description:\n"
            + "\n".join(f"- {m}" for m in mismatches)
        )


def client(server: GitHubServer, auth: Auth.Auth | None = None) -> Github:
    """PyGithub against the server, without retries or the default 0.25 s/1 s pacing."""
    return Github(
        auth=auth or Auth.Token(TOKEN),
        base_url=server.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
