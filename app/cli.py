"""The ``hashwall`` command line: migrations, serving, keys, reports, hash lists."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from app import auth, balance, db
from app.models import utcnow
from app.observability import logging_config
from app.services import keys
from app.services.hashlists.exporter import export_hash_list
from app.services.hashlists.formats import HashListError, HashListFormat
from app.services.hashlists.import_index import ImportIndex
from app.services.hashlists.importing import ImportRun, import_list
from app.services.hashlists.resume import ImportConflict, ImportOptions
from app.services.report import annual_report
from app.services.retention import purge_events, retention_cutoff
from app.settings import Settings
from app.text import refused_character
from hashing.types import Signal
from matching import Category

cli = typer.Typer(
    help="Hashwall: re-upload prevention service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys.", no_args_is_help=True)
stats_cli = typer.Typer(help="Transparency statistics.", no_args_is_help=True)
events_cli = typer.Typer(help="The match log.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(stats_cli, name="stats")
cli.add_typer(events_cli, name="events")

OPERATOR = "cli"


def database(settings: Settings, *, create: bool) -> None:
    """Name the database a command uses (on stderr) and bring its schema up to
    date. A command that only reads or changes what is there (``create``
    False) refuses to make a new SQLite file: run from another folder with
    another data directory, it would otherwise answer from an empty database."""
    url = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    typer.echo(f"database: {url}", err=True)
    path = settings.sqlite_path
    if not create and path is not None and not path.exists():
        typer.echo(
            f"error: there is no database at {path}. Start the service first (hashwall "
            "serve, or hashwall db upgrade), or point HASHWALL_DATA_DIR or "
            "HASHWALL_DATABASE_URL at the service's database.",
            err=True,
        )
        raise typer.Exit(1)
    db.upgrade(settings)


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations up to REVISION (default: the latest)."""
    settings = Settings()
    database(settings, create=True)
    if revision != "head":
        db.upgrade(settings, revision)
    typer.echo("database is at " + revision, err=True)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: HASHWALL_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: HASHWALL_PORT")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="default: HASHWALL_WORKERS")] = None,
    migrate: Annotated[bool, typer.Option(help="apply migrations first")] = True,
) -> None:
    """Run the HTTP service in one or more processes.

    Each process holds its own index, loaded from the database at start and kept
    in step through the change feed.
    """
    settings = Settings()
    if migrate:
        database(settings, create=True)
    processes = workers or settings.workers
    # Each worker reads its settings anew: it must know it is one of several (the
    # rate limit's counts then go where all of them see them).
    os.environ["HASHWALL_WORKERS"] = str(processes)
    listen_port = settings.port if port is None else port
    if processes > 1:
        # The workers' shared count of open connections (app/balance.py), new
        # for each start so no slot outlives its process.
        table = settings.data_dir / "run" / f"workers-{listen_port}"
        table.unlink(missing_ok=True)
        os.environ[balance.TABLE_ENV] = str(table)
    if processes > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Worker processes each count their own requests; /metrics adds them up
        # from files here, which must start empty.
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=listen_port,
        workers=processes,
        # Workers share one socket; this protocol spreads keep-alive connections
        # over them (see app/balance.py).
        http="app.balance:BalancedHttpToolsProtocol" if processes > 1 else "auto",
        log_config=logging_config(),
        access_log=False,  # RequestContext writes one JSON line per request instead
        # Not uvicorn's 5 s: on a busy host a worker's imports alone take 4-8 s.
        timeout_worker_healthcheck=30,
    )


def _sessions(*, create: bool = False) -> tuple[Settings, sessionmaker[Session]]:
    """Sessions on an up-to-date schema (see :func:`database`)."""
    settings = Settings()
    database(settings, create=create)
    return settings, db.make_sessionmaker(db.make_engine(settings))


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="the key's own name (unique)")],
    scopes: Annotated[
        str, typer.Option(help="comma-separated: check,register,export,export_all,admin")
    ],
    platform: Annotated[
        str | None, typer.Option(help="platform or team it acts for (default: its name)")
    ] = None,
) -> None:
    """Create a key and print it once on stdout; only its digest is stored."""
    try:
        scope_set = auth.parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from exc
    _, sessions = _sessions(create=True)
    with sessions() as session:
        try:
            key = keys.create_key(session, name, scope_set, OPERATOR, platform)
        except keys.KeyAdminError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    print(key)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys, tab-separated under a header row: name, scopes, created,
    revoked, platform (never the keys themselves)."""
    _, sessions = _sessions()
    with sessions() as session:
        print("name\tscopes\tcreated\trevoked\tplatform")
        for key in keys.list_keys(session):
            revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
            created = key.created_at.isoformat()
            print(f"{key.name}\t{key.scopes}\t{created}\t{revoked}\t{key.platform}")


@keys_cli.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke the key named NAME; it stops working at once."""
    _, sessions = _sessions()
    with sessions() as session:
        try:
            keys.revoke_key(session, name, OPERATOR)
        except keys.KeyAdminError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"revoked {name}", err=True)


@stats_cli.command("report")
def stats_report(
    year: Annotated[int, typer.Option(min=2000, max=2100)],
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    tz: Annotated[str, typer.Option(help="IANA time zone of the year's bounds")] = "UTC",
    platform: Annotated[str | None, typer.Option(help="one platform only")] = None,
) -> None:
    """Print the annual transparency report (the numbers GET /stats/report gives)."""
    if fmt not in ("json", "csv"):
        raise typer.BadParameter("json or csv", param_hint="--format")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from exc
    _, sessions = _sessions()
    with sessions() as session:
        report = annual_report(session, year, zone, platform, case_refs=True)
    if fmt == "csv":
        sys.stdout.write(report.as_csv())
    else:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))


@events_cli.command("purge")
def events_purge(
    before: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD (UTC); default: today minus HASHWALL_EVENT_RETENTION_DAYS"),
    ] = None,
) -> None:
    """Fold match events before a day into per-day item counts and delete them;
    every export keeps its totals."""
    settings, sessions = _sessions()
    if before is not None:
        try:
            day = date.fromisoformat(before)
        except ValueError as exc:
            raise typer.BadParameter("a date YYYY-MM-DD", param_hint="--before") from exc
    elif settings.event_retention_days is not None:
        day = retention_cutoff(settings.event_retention_days, utcnow().date())
    else:
        typer.echo("error: give --before or set HASHWALL_EVENT_RETENTION_DAYS", err=True)
        raise typer.Exit(2)
    with sessions() as session:
        removed = purge_events(session, day)
    typer.echo(f"purged {removed} match events before {day.isoformat()}", err=True)


def _check_texts(case_ref: str | None, operator: str | None) -> None:
    if case_ref is not None and len(case_ref) > 200:
        raise typer.BadParameter("at most 200 characters", param_hint="--case-ref")
    for hint, text in (("--case-ref", case_ref), ("--operator", operator)):
        bad = None if text is None else refused_character(text)
        if bad is not None:
            raise typer.BadParameter(f"no control characters ({bad})", param_hint=hint)


class _ImportBar:
    """The import's progress bar on stderr, shown once the index is loaded (after
    a line saying where from) until the block ends."""

    def __init__(self, file: Path, show: bool) -> None:
        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not show,
        )
        self.task = self.bar.add_task(f"importing {file.name}", total=file.stat().st_size)

    def loaded(self, index: ImportIndex) -> None:
        if not self.bar.disable:
            self.console.print(
                f"index loaded from the {index.startup.source} in {index.seconds:.1f} s: "
                f"{index.startup.rows:,} hashes, {index.replayed:,} changes replayed"
            )
        self.bar.start()

    def read(self, position: int) -> None:
        self.bar.update(self.task, completed=position)

    def __enter__(self) -> _ImportBar:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.bar.live.is_started:
            self.bar.stop()


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except (KeyError, OSError):  # no login name (a container's anonymous user)
        return OPERATOR


@cli.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the hash list")],
    fmt: Annotated[
        HashListFormat, typer.Option("--format", help="csv, threatexchange or stopncii")
    ],
    category: Annotated[Category, typer.Option(help="for lines that name none")],
    case_ref: Annotated[
        str | None, typer.Option(help="case reference for lines that carry none")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="rejected lines, CSV; default: FILE.rejected.csv")
    ] = None,
    operator: Annotated[
        str | None, typer.Option(help="who imports, for the audit trail; default: cli:<login>")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="lines per transaction (default 20,000)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Import a hash list: one item per hash, skipping hashes already held.

    Which hashes are held is asked of the index, loaded first as a server loads
    it (the newest snapshot and the change feed, or else the database). Rerunning
    the same command after an interruption resumes after the last
    committed line; rerunning it after it finished adds nothing.
    """
    _check_texts(case_ref, operator)
    settings = Settings()
    database(settings, create=True)
    engine = db.make_engine(settings)
    report_path = report or file.with_name(file.name + ".rejected.csv")
    who = (operator or _operator())[:100]
    options = ImportOptions(fmt, category, case_ref, who, str(file), batch_size)
    try:
        with _ImportBar(file, progress) as bar:
            run = import_list(
                engine,
                file,
                options,
                settings,
                report=report_path,
                progress=bar.read,
                loaded=bar.loaded,
            )
    except HashListError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ImportConflict as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    print(_import_line(file, run, report_path))


def _import_line(file: Path, run: ImportRun, report_path: Path) -> str:
    """What ``hashwall import`` prints when it is done."""
    summary, index = run.summary, run.index
    assert index is not None  # the command loads its own
    resumed = f", resumed after line {summary.resumed_from:,}" if summary.resumed_from else ""
    rate = summary.lines_this_run / summary.seconds if summary.seconds else 0.0
    return (
        f"{file}: {summary.lines:,} lines, {summary.added:,} added, "
        f"{summary.already_present:,} already present, {summary.rejected:,} rejected"
        + (f" (lines and reasons in {report_path})" if run.reported else "")
        + f"; {summary.seconds:.1f} s, {rate:,.0f} lines/s{resumed}; "
        f"index loaded from the {index.startup.source} in {index.seconds:.1f} s"
    )


@cli.command("export")
def export_command(
    file: Annotated[str, typer.Argument(help="where to write it, or - for standard output")],
    fmt: Annotated[
        HashListFormat, typer.Option("--format", help="csv, threatexchange or stopncii")
    ],
    category: Annotated[Category | None, typer.Option(help="only this category")] = None,
    signal: Annotated[Signal | None, typer.Option(help="only this signal")] = None,
) -> None:
    """Write the active hash list out, each hash once, for hash-sharing partners."""
    settings = Settings()
    database(settings, create=False)
    engine = db.make_engine(settings)
    try:
        if file == "-":
            summary = export_hash_list(engine, sys.stdout, fmt, category=category, signal=signal)
        else:
            with Path(file).open("w", encoding="utf-8", newline="") as out:
                summary = export_hash_list(engine, out, fmt, category=category, signal=signal)
    finally:
        engine.dispose()
    skipped = (
        f", {summary.not_representable:,} left out (no name for them in {fmt.value})"
        if summary.not_representable
        else ""
    )
    typer.echo(f"exported {summary.written:,} hashes{skipped}", err=True)


def main() -> None:
    cli()
