"""The ``tightship`` command: serve, worker, clock, migrate, events, scan, fix, rescan, demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

import click

from app.config import CONFIG_ENV, ConfigError, Settings, load_settings, resolve_config_path
from app.models import Report, Severity

log = logging.getLogger("app.cli")


class Failure(click.ClickException):
    """An error the command reports in one line and exits 2 for (1 means findings)."""

    exit_code = 2


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
    """Run the schedule: the outbox sweep, and the weekly rescan (rescan.cron, persisted)."""
    import threading

    from app.jobs import schedule
    from app.jobs.queue import Jobs
    from app.store.db import Database

    settings = _settings(ctx)
    db = Database(settings.database_url)
    db.migrate()
    config_path = resolve_config_path(ctx.obj["config"])
    if config_path is not None:  # the persisted weekly job reads its settings from here
        os.environ[CONFIG_ENV] = str(config_path.resolve())
    scheduler = schedule.build(settings, Jobs(settings, db).sweep)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.resume()
    weekly = scheduler.get_job(schedule.WEEKLY, jobstore="persistent")
    log.info("clock started", extra={"next_rescan": str(weekly.next_run_time) if weekly else None})
    stopped.wait()
    scheduler.shutdown(wait=False)


@main.command()
@click.option("--all", "everything", is_flag=True, help="Every tracked tag.")
@click.argument("reference", required=False)
@click.pass_context
def rescan(ctx: click.Context, everything: bool, reference: str | None) -> None:
    """Queue a rescan of every tracked tag (--all) or of one, REF = host/repository:tag.

    A moved tag is scanned like a push; an unchanged one is judged again from its cached
    layer facts against the current rules (no blob downloads). The workers do the work.
    """
    from app.jobs import rescan as rescans
    from app.jobs.queue import Jobs
    from app.store.db import Database

    if everything == (reference is not None):
        raise click.UsageError("give --all or one REF")
    settings = _settings(ctx)
    db = Database(settings.database_url)
    db.migrate()
    try:
        queued = rescans.request(db, Jobs(settings, db), reference)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    if reference is not None and not queued["queued"]:
        raise Failure(f"{reference} is not a tracked tag (see tightship events)")
    for name in queued["tags"]:  # type: ignore[attr-defined]
        click.echo(f"queued {name}")
    click.echo(f"{queued['queued']} rescan(s) queued")


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
@click.option("--ignored", is_flag=True, help="Only events acknowledged and ignored, with why.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def events(ctx: click.Context, ignored: bool, limit: int) -> None:
    """List what arrived at the webhooks, newest first: analyzed, ignored (and why), failed."""
    from app.store import repo
    from app.store.db import Database

    settings = _settings(ctx)
    db = Database(settings.database_url)
    db.migrate()
    with db.session() as session:
        rows = repo.recent_events(session, ignored_only=ignored, limit=limit)
    if not rows:
        click.echo("no events")
        return
    for row in rows:
        image = row.repository or "?"
        if row.tag:
            image += f":{row.tag}"
        if row.digest:
            image += f"@{row.digest[:19]}"
        line = f"{row.received_at:%Y-%m-%d %H:%M:%S}  {row.registry_name:12} {row.status:8} {image}"
        click.echo(line + (f"  ({row.reason})" if row.reason else ""))


@main.command()
@click.argument("reference")
@click.option(
    "--platform",
    default="all",
    show_default=True,
    help="os/arch[/variant] to analyze from an index, or all.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    default="high",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option("--ignore", multiple=True, metavar="RULE[:GLOB]", help="Drop matching findings.")
@click.option("--no-cache", is_flag=True, help="Walk every layer even if its facts are cached.")
@click.pass_context
def scan(
    ctx: click.Context,
    reference: str,
    platform: str,
    output_format: str,
    fail_on: str,
    ignore: tuple[str, ...],
    no_cache: bool,
) -> None:
    """Analyze an image: REF (as crane names it), oci-layout:PATH or docker-archive:FILE.

    Exit status: 0 clean, 1 findings at or above --fail-on, 2 error.
    """
    from app.analysis import output as formats

    try:
        report = _analyze(ctx, reference, platform, ignore, no_cache)
    except click.ClickException as exc:
        _clear_progress()
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(2)
    _clear_progress()
    version = _version()
    text = {
        "table": formats.to_table,
        "json": formats.to_json,
        "sarif": lambda r: formats.to_sarif(r, version),
    }[output_format](report)
    click.echo(text)
    threshold = Severity(fail_on)
    sys.exit(1 if any(formats.at_or_above(f.severity, threshold) for f in report.findings) else 0)


def _analyze(
    ctx: click.Context, reference: str, platform: str, ignore: tuple[str, ...], no_cache: bool
) -> Report:
    """The report for an image, as ``scan`` and ``fix --image`` both need it."""
    from app.analysis import AnalysisError, Analyzer, Ignore
    from app.registry import RegistryError
    from app.registry.credentials import CredentialsError
    from app.registry.reference import ReferenceError
    from app.registry.sources import open_source
    from app.store.cache import StoreFactsCache
    from app.store.db import Database

    try:
        settings = _settings(ctx)
        ignores = tuple(Ignore.parse(i) for i in (*settings.analysis.ignore, *ignore))
        opened = open_source(reference, settings)
        cache = None
        if not no_cache:
            db = Database(settings.database_url)
            db.migrate()
            cache = StoreFactsCache(db)
        analyzer = Analyzer(opened.source, cache=cache, ignores=ignores, progress=_progress())
        top, targets = analyzer.targets(opened.reference, platform)
        return analyzer.report(opened.name, top, targets)
    except (
        ValueError,
        AnalysisError,
        RegistryError,
        CredentialsError,
        ReferenceError,
        OSError,
    ) as exc:
        raise Failure(str(exc)) from None


@main.command()
@click.option(
    "--repo",
    "repo",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The source checkout whose working tree is edited.",
)
@click.option("--image", metavar="REF", help="Analyze this image first (as tightship scan does).")
@click.option(
    "--report",
    "report_file",
    type=click.File("r", encoding="utf-8"),
    help="A report from `tightship scan --format json` (- for stdin).",
)
@click.option("--path", "subdir", default="", help="The build's sub-directory of the repository.")
@click.option("--platform", default="all", show_default=True, help="With --image: os/arch.")
@click.option("--dry-run", is_flag=True, help="Print the diff and decisions; write nothing.")
@click.pass_context
def fix(
    ctx: click.Context,
    repo: Path,
    image: str | None,
    report_file: TextIO | None,
    subdir: str,
    platform: str,
    dry_run: bool,
) -> None:
    """Apply Tightship's fixes for an image to a checkout's working tree (nothing is committed).

    Prints a unified diff and, for every finding, what was done or why nothing could be.
    Exit status: 0 done (also when nothing needed changing), 2 error.
    """
    from app.remediation import plan
    from app.remediation.diff import unified
    from app.scm import ScmError
    from app.scm.worktree import WorkTree

    if (image is None) == (report_file is None):
        raise click.UsageError("give exactly one of --image and --report")
    try:
        settings = _settings(ctx)
        report = _load_report(report_file) if report_file else None
        if report is None:
            report = _analyze(ctx, image or "", platform, (), False)
            _clear_progress()
        tree = WorkTree(repo)
        planned = plan(
            report,
            tree,
            repo.name,
            subdir.strip("/"),
            _image_repository(report.reference),
            settings.remediation.user,
            settings.remediation.bases,
        )
        for note in planned.notes:
            click.echo(f"note: {note}")
        for decision in planned.decisions:
            mark = "fixed    " if decision.done else "not fixed"
            where = f" {decision.finding.path}" if decision.finding.path else ""
            click.echo(f"{mark} {decision.finding.rule}{where}: {decision.detail}")
        edits = planned.plan.edits if planned.plan else ()
        click.echo(unified(edits), nl=False)
        if not dry_run:
            tree.write_all(edits)
    except ScmError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:  # the checkout itself: permissions, a file where a directory goes
        raise Failure(f"could not write the checkout: {exc}") from None
    if not edits:
        click.echo("nothing to change")
    elif dry_run:
        click.echo(f"dry run: {len(edits)} file(s) would change")
    else:
        click.echo(f"{len(edits)} file(s) changed in {repo}")


def _load_report(handle: TextIO) -> Report:
    try:
        return Report.from_dict(json.load(handle))
    except (ValueError, KeyError, TypeError) as exc:
        raise Failure(f"not a Tightship report: {exc}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tightship")
    except PackageNotFoundError:
        return "0+unknown"


def _image_repository(reference: str) -> str:
    """The image's repository, as the service names fix branches after it (``acme/web`` for
    ``host:5000/acme/web:1``); an offline reference (``oci-layout:PATH``) as it is."""
    from app.registry.reference import ReferenceError, parse_reference

    try:
        return parse_reference(reference).repository
    except ReferenceError:
        return reference


def _progress() -> Callable[[str, int, int], None] | None:
    """A one-line progress display on a terminal; nothing when output is piped."""
    if not sys.stderr.isatty():
        return None

    def show(what: str, done: int, total: int) -> None:
        width = 20
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {what}\x1b[K")
        sys.stderr.flush()

    return show


def _clear_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


@main.command()
@click.option("--keep", is_flag=True, help="Keep the registry and Tightship running afterwards.")
@click.pass_context
def demo(ctx: click.Context, keep: bool) -> None:
    """Push a root Jib image to a local registry and show the fix branch Tightship makes."""
    from app.demo import run_demo

    sys.exit(run_demo(keep=keep))
