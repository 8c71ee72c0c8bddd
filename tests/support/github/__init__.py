"""A local GitHub checked against GitHub's OpenAPI description; see `server.GitHubServer`.

In a test module (or a conftest.py): `from tests.support.github import github_server_fixture`
(`# noqa: F401`), then ask for the `github_server` fixture.
"""

from tests.support.github.fixtures import (
    TOKEN,
    client,
    github_server_fixture,
    start_github_server,
)
from tests.support.github.server import GitHubServer

__all__ = ["TOKEN", "GitHubServer", "client", "github_server_fixture", "start_github_server"]
