"""Shared fixtures: settings on temporary directories, and the store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from app.config import Settings
from app.demo.registry import LocalRegistry
from app.store.db import Database, normalize_url

# Property tests check behaviour, not speed: on a loaded 2-core CI machine hypothesis's default
# 200 ms deadline per example fails tests at random.
hypothesis_settings.register_profile("tightship", deadline=None)
hypothesis_settings.load_profile("tightship")

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "test-token-3f9a8c1e77d04b2b"


def _service_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        message = f"{variable} is not set: the case needs a real server"
        if os.environ.get("TIGHTSHIP_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        data: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "registries": [
                {
                    "name": "local",
                    "sender": "distribution",
                    "url": "http://127.0.0.1:5000",
                    "webhook": {"token": TOKEN},
                }
            ],
            "repositories": {"allow": ["acme/*"]},
        }
        data.update(overrides)
        return Settings.model_validate(data)

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return normalize_url(_service_url("TIGHTSHIP_TEST_DATABASE_URL"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _service_url("TIGHTSHIP_TEST_REDIS_URL")


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A schema of its own, dropped afterwards, so test runs never see each other's rows."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each engine Tightship supports (PostgreSQL: its schema in the URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    with postgres_schema(url) as schema:
        yield f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The same store tests on both engines."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry (CNCF Distribution) on a free loopback port."""
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running
