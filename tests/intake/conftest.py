"""The app with one registry of a test's choosing, on each store engine (see database_url)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app


@pytest.fixture
def app_with(make_settings, database_url: str) -> Iterator[Callable[[dict[str, Any]], Flask]]:
    apps: list[Flask] = []

    def make(registry: dict[str, Any]) -> Flask:
        app = create_app(
            make_settings(storage={"database_url": database_url}, registries=[registry])
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["tightship.db"].dispose()
