"""The ``hashwall import``/``export`` commands on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, update
from typer.testing import CliRunner

from app import db
from app.cli import cli
from app.models import Item
from app.services.hashlists.exporter import export_hash_list
from app.services.hashlists.formats import Format
from app.settings import Settings
from matching import Category
from tests.services.hashlist_files import (
    cli_env,
    csv_file,
    fresh_database,
    held,
    hexes,
    imported,
    options,
)


def test_export_then_import_into_a_fresh_database_round_trips(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = [f"pdq,{h},ncii,C-{i}" for i, h in enumerate(hexes(30))]
    rows += [f"phash,{h},csam," for h in hexes(5, 16)] + [
        f"sha256,{h},deepfake,X" for h in hexes(4)
    ]
    source = csv_file(tmp_path / "source.csv", rows)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["import", str(source), "--format", "csv", "--category", "other", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert "39 added" in result.stdout
    with engine.begin() as conn:  # a deactivated item is not exported
        conn.execute(update(Item).where(Item.id == 2).values(active=False))
    expected = held(engine)
    assert len(expected) == 38
    with fresh_database(settings, tmp_path) as other:
        out = tmp_path / "export.csv"
        result = runner.invoke(cli, ["export", str(out), "--format", "csv"], env=cli_env(settings))
        assert result.exit_code == 0, result.output
        assert "exported 38 hashes" in result.stderr
        result = runner.invoke(
            cli,
            ["import", str(out), "--format", "csv", "--category", "other", "--no-progress"],
            env=cli_env(other),
        )
        assert result.exit_code == 0, result.output
        copy = db.make_engine(other)
        try:
            assert held(copy) == expected
            again = runner.invoke(cli, ["export", "-", "--format", "csv"], env=cli_env(other))
            assert again.stdout == out.read_text()
            # The partners' formats keep what they can name.
            for fmt, signals in (("threatexchange", {"pdq"}), ("stopncii", {"pdq"})):
                shared = tmp_path / f"export.{fmt}"
                with shared.open("w") as f:
                    export_hash_list(engine, f, Format(fmt))
                with fresh_database(settings, tmp_path / fmt) as third:
                    third_engine = db.make_engine(third)
                    summary = imported(
                        third_engine, shared, options(fmt=Format(fmt), category=Category.NCII)
                    )
                    assert summary.rejected == 0
                    assert {(s, v) for s, v, *_ in held(third_engine)} == {
                        (s, v) for s, v, *_ in expected if s in signals
                    }
                    third_engine.dispose()
        finally:
            copy.dispose()


def test_the_import_command_writes_a_report_of_rejected_lines(
    settings: Settings, tmp_path: Path
) -> None:
    path = csv_file(tmp_path / "list.csv", [f"pdq,{hexes(1)[0]},,", "pdq,abc,,", "phash,,,"])
    result = CliRunner().invoke(
        cli,
        ["import", str(path), "--format", "csv", "--category", "ncii", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert "1 added, 0 already present, 2 rejected" in result.stdout
    report = (tmp_path / "list.csv.rejected.csv").read_text().splitlines()
    assert report[0] == "line,reason"
    assert [line.split(",")[0] for line in report[1:]] == ["3", "4"]
    bad = tmp_path / "bad.csv"
    bad.write_text("no header here\n")
    result = CliRunner().invoke(
        cli,
        ["import", str(bad), "--format", "csv", "--category", "ncii", "--no-progress"],
        env=cli_env(settings),
    )
    assert result.exit_code == 2
    assert "header row" in result.stderr
