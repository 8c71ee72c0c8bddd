"""References parse as go-containerregistry parses them (cases from its pkg/name behaviour)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.registry.reference import Reference, ReferenceError, parse_reference, plain_http_allowed

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        (
            "ubuntu",
            Reference("index.docker.io", "library/ubuntu", "latest"),
            "index.docker.io/library/ubuntu:latest",
        ),
        ("ubuntu:22.04", Reference("index.docker.io", "library/ubuntu", "22.04"), None),
        ("docker.io/ubuntu", Reference("index.docker.io", "library/ubuntu", "latest"), None),
        ("docker.io/library/ubuntu:x", Reference("index.docker.io", "library/ubuntu", "x"), None),
        (
            "index.docker.io/bitnami/redis",
            Reference("index.docker.io", "bitnami/redis", "latest"),
            None,
        ),
        ("acme/orders", Reference("index.docker.io", "acme/orders", "latest"), None),
        # no '.' or ':' in the first component: it is part of the Hub repository, as in ggcr
        ("localhost/app", Reference("index.docker.io", "localhost/app", "latest"), None),
        (
            "localhost:5000/app",
            Reference("localhost:5000", "app", "latest"),
            "localhost:5000/app:latest",
        ),
        ("127.0.0.1:5000/acme/orders:1.0", Reference("127.0.0.1:5000", "acme/orders", "1.0"), None),
        (
            "gcr.io/distroless/java21-debian13:nonroot",
            Reference("gcr.io", "distroless/java21-debian13", "nonroot"),
            None,
        ),
        (f"ghcr.io/a/b/c@{D}", Reference("ghcr.io", "a/b/c", None, D), f"ghcr.io/a/b/c@{D}"),
        (f"host:5000/ab@{D}", Reference("host:5000", "ab", None, D), None),
        (
            f"ubuntu:22.04@{D}",
            Reference("index.docker.io", "library/ubuntu", "22.04", D),
            f"index.docker.io/library/ubuntu@{D}",
        ),
        (f"ubuntu@{D}", Reference("index.docker.io", "library/ubuntu", None, D), None),
        ("reg.local/ab:T_a.g-1", Reference("reg.local", "ab", "T_a.g-1"), None),
        ("[::1]:5000/ab", Reference("[::1]:5000", "ab", "latest"), None),
    ],
)
def test_valid_references(text: str, expected: Reference, canonical: str | None) -> None:
    parsed = parse_reference(text)
    assert parsed == expected
    if canonical:
        assert str(parsed) == canonical
    again = parse_reference(str(parsed))  # the canonical form names the same image
    assert (again.registry, again.repository, again.identifier) == (
        parsed.registry,
        parsed.repository,
        parsed.identifier,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a repository name must be specified"),
        ("host:5000/a", "repository must be between 2 and 255"),
        ("Ubuntu", "repository can only contain lower case characters"),
        ("gcr.io/Acme/app", "repository can only contain lower case characters"),
        ("a", "repository must be between 2 and 255"),
        ("ubuntu:bad/tag", "registry 'ubuntu:bad' is not a valid host[:port]"),
        ("ubuntu:" + "t" * 128, "tag must be between 1 and 127"),
        ("ubuntu:t@g", "digest must be sha256"),
        ("ubuntu@sha256:abc", "digest must be sha256"),
        (f"ubuntu@{D}@{D}", "exactly one '@'"),
        ("ubuntu@" + D.upper().replace("SHA256", "sha256"), "digest must be sha256"),
        ("bad_host.com:x/app", "registry 'bad_host.com:x' is not a valid host[:port]"),
        ("a b", "contains characters not allowed"),
    ],
)
def test_invalid_references_say_why(text: str, message: str) -> None:
    with pytest.raises(ReferenceError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_reference(text)


@pytest.mark.parametrize(
    ("registry", "plain"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("[::1]:5000", True),
        ("registry.local", True),
        ("foo.localhost:80", True),
        ("index.docker.io", False),
        ("10.0.0.5:5000", False),
        ("gcr.io", False),
        ("localhost.example.com", False),
    ],
)
def test_plain_http_only_for_local_registries(registry: str, plain: bool) -> None:
    assert plain_http_allowed(registry) is plain


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_reference_error(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except ReferenceError:
        return
    assert parsed.repository and parsed.registry
    assert parsed.repository == parsed.repository.lower()
    assert parsed.identifier in (parsed.digest, parsed.tag)
