"""The tightship command: clear errors on bad config, and the demo newcomers run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main


def test_invalid_config_stops_with_one_message_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: {port: eighty}\n")
    result = CliRunner().invoke(main, ["--config", str(config), "migrate"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: invalid configuration: {config}: server.port: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_migrate_creates_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGHTSHIP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "tightship.db").is_file()


def test_python_dash_m_app_is_the_tightship_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("Usage: tightship")
    for command in ("serve", "worker", "clock", "migrate", "demo"):
        assert command in result.stdout


@pytest.mark.e2e
def test_demo_shows_the_fix_branch(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "app", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Tightship made branch tightship/acme-orders" in result.stdout
    assert "+            <user>65532:65532</user>" in result.stdout
    assert "chat message: Tightship: 1 finding in 127.0.0.1:" in result.stdout


def test_events_lists_what_arrived_and_why_some_were_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app.models import IgnoredEvent, PushEvent
    from app.store import repo
    from app.store.db import Database

    monkeypatch.setenv("TIGHTSHIP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = Database(f"sqlite:///{tmp_path / 'tightship.db'}")
    db.migrate()
    now = datetime.now(UTC)
    with db.session() as session:
        repo.record_events(
            session,
            [
                PushEvent(
                    "local",
                    "distribution",
                    "h",
                    "acme/api",
                    "sha256:" + "a" * 64,
                    "1.0",
                    None,
                    "e1",
                    now,
                ),
                IgnoredEvent(
                    "local",
                    "distribution",
                    "e2",
                    now,
                    "action 'pull' is not a push",
                    repository="acme/api",
                ),
            ],
        )
    everything = CliRunner().invoke(main, ["events"])
    assert everything.exit_code == 0
    assert "queued   acme/api:1.0@sha256:aaaaaaaaaaaa" in everything.output
    only_ignored = CliRunner().invoke(main, ["events", "--ignored", "--limit", "5"])
    assert "(action 'pull' is not a push)" in only_ignored.output
    assert "queued" not in only_ignored.output
