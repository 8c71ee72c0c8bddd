"""The ``tightship`` command: serve, worker, clock, migrate, demo."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from app.config import CONFIG_ENV, ConfigError, Settings, load_settings, resolve_config_path

log = logging.getLogger("app.cli")


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj["config"])
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help=f"YAML config file (default: ${CONFIG_ENV}, else ./config.yaml, else built-in defaults)",
)
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Tightship keeps production container images tight."""
    from app.logs import configure_logging

    configure_logging()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema."""
    from app.store.db import Database

    settings = _settings(ctx)
    Database(settings.database_url).migrate()
    click.echo(f"database at head: {Database(settings.database_url).url.render_as_string()}")


@main.command()
@click.option("--threads", default=2, show_default=True, help="Concurrent jobs in this process.")
@click.pass_context
def worker(ctx: click.Context, threads: int) -> None:
    """Run queued scans (a Huey consumer)."""
    from app.jobs.queue import Jobs
    from app.store.db import Database

    settings = _settings(ctx)
    db = Database(settings.database_url)
    db.migrate()
    jobs = Jobs(settings, db)
    jobs.sweep()
    log.info(
        "worker started", extra={"threads": threads, "redis": bool(settings.storage.redis_url)}
    )
    jobs.huey.create_consumer(workers=threads, worker_type="thread").run()


@main.command()
@click.pass_context
def clock(ctx: click.Context) -> None:
    """Run the schedule: the outbox sweep every minute (weekly rescans come later)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from app.jobs.queue import Jobs
    from app.store.db import Database

    settings = _settings(ctx)
    db = Database(settings.database_url)
    db.migrate()
    jobs = Jobs(settings, db)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(jobs.sweep, "interval", minutes=1, id="sweep", coalesce=True)
    log.info("clock started")

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    scheduler.start()


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run web, worker and clock together: Tightship on one machine."""
    from app.store.db import Database

    settings = _settings(ctx)
    Database(settings.database_url).migrate()
    if not settings.registries:
        log.warning("no registries configured: webhooks will answer 404 (see config.example.yaml)")
    env = dict(os.environ)
    config_path = resolve_config_path(ctx.obj["config"])
    if config_path is not None:
        env[CONFIG_ENV] = str(config_path.resolve())
    me = [sys.executable, "-m", "app"]
    commands = {
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:app.gunicorn_conf",
            "app:create_app()",
        ],
        "worker": [*me, "worker"],
        "clock": [*me, "clock"],
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    try:
        children.update({name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()})
        log.info(
            "serving",
            extra={
                "url": f"http://{settings.server.host}:{settings.server.port}",
                "data_dir": str(Path(settings.data_dir).resolve()),
            },
        )
        while not stopping:
            exited = [(n, c.returncode) for n, c in children.items() if c.poll() is not None]
            if exited:
                name, exit_code = exited[0]
                log.error(
                    "process exited; stopping the others", extra={"child": name, "code": exit_code}
                )
                break
            time.sleep(0.2)
    finally:
        _stop_children(children)
    sys.exit(1 if exit_code < 0 else exit_code)  # a child killed by a signal is a failure too


def _stop_children(children: dict[str, subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """Ask each child to stop (the worker gracefully, finishing its jobs), then insist."""
    for name, child in children.items():
        if child.poll() is None:
            child.send_signal(signal.SIGINT if name == "worker" else signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@main.command()
@click.option("--keep", is_flag=True, help="Keep the registry and Tightship running afterwards.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> None:
    """Push a root Jib image to a local registry and show the fix branch Tightship makes."""
    from app.demo import run_demo

    sys.exit(run_demo(keep=keep))
