"""The ``hashwall`` command line: migrations, serving and key management."""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from app import auth, db
from app.observability import logging_config
from app.services import keys
from app.services.report import annual_report
from app.services.retention import purge_events, retention_cutoff
from app.settings import Settings

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


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply Alembic migrations up to REVISION (default: the latest)."""
    db.upgrade(Settings(), revision)
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
        db.upgrade(settings)
    processes = workers or settings.workers
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
        port=settings.port if port is None else port,
        workers=processes,
        log_config=logging_config(),
        access_log=False,  # RequestContext writes one JSON line per request instead
    )


def _sessions() -> tuple[Settings, sessionmaker[Session]]:
    """Sessions on an up-to-date schema, so keys can be made right after install."""
    settings = Settings()
    db.upgrade(settings)
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
    _, sessions = _sessions()
    with sessions() as session:
        try:
            key = keys.create_key(session, name, scope_set, OPERATOR, platform)
        except keys.KeyAdminError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    print(key)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys: name, scopes, created, revoked, platform (never the keys themselves)."""
    _, sessions = _sessions()
    with sessions() as session:
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
        report = annual_report(session, year, zone, platform)
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
        day = retention_cutoff(settings.event_retention_days)
    else:
        typer.echo("error: give --before or set HASHWALL_EVENT_RETENTION_DAYS", err=True)
        raise typer.Exit(2)
    with sessions() as session:
        removed = purge_events(session, day)
    typer.echo(f"purged {removed} match events before {day.isoformat()}", err=True)


def main() -> None:
    cli()
