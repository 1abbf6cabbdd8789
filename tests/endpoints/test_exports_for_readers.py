"""What the people reading exports get: CSV cells a spreadsheet never runs as a
formula, and case references only for those they belong to (a regulator's or
the operator's keys, not a platform's)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.csvfile import FORMULA_STARTS
from app.main import create_app
from app.services import keys
from app.settings import Settings
from tests.api import Api, bearer
from tests.clock import START, SteadyClock
from tests.conftest import PHOTOS

HASHWALL = str(Path(sys.executable).parent / "hashwall")
CASE = '=HYPERLINK("http://x","y")'
PLATFORM = "+cmd|' /C calc'!A0"
REASON = "@SUM(1+1)"
IMPORTED_CASE = "-2+3"
DAY = START.date().isoformat()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=SteadyClock())) as test_client:
        yield test_client


@pytest.fixture
def readers(settings: Settings) -> dict[str, str]:
    """A platform whose name is a formula (check and export), a regulator, staff."""
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        made = {
            "platform": keys.create_key(
                session, "evil", [auth.Scope.CHECK, auth.Scope.EXPORT], "test", PLATFORM
            ),
            "regulator": keys.create_key(session, "regulator", [auth.Scope.EXPORT_ALL], "test"),
            "staff": keys.create_key(session, "staff", [auth.Scope.REGISTER], "test"),
            "admin": keys.create_key(session, "admin", [auth.Scope.ADMIN], "test"),
        }
    engine.dispose()
    return made


@pytest.fixture
def history(client: TestClient, readers: dict[str, str]) -> None:
    """Two items with a formula for a case reference, re-uploads of both, one
    deactivated with a formula for a reason, and an imported list's hash."""
    staff = bearer(readers["staff"])
    api = Api(client, readers)
    for path in PHOTOS[:2]:
        registered = api.register(path.read_bytes(), path.name, role="staff", case_ref=CASE)
        assert registered.status_code == 201, registered.text
        checked = api.check(path.read_bytes(), path.name)
        assert checked.json()["decision"] == "block"
    gone = client.delete("/items/2", params={"reason": REASON}, headers=staff)
    assert gone.status_code == 200
    listed = f"signal,hash,case_ref\npdq,{'ab' * 32},{IMPORTED_CASE}\n"
    imported = client.post(
        "/import",
        files={"file": ("list.csv", listed.encode())},
        data={"format": "csv", "category": "deepfake"},
        headers=bearer(readers["admin"]),
    )
    assert imported.json()["added"] == 1


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def assert_no_formula(table: list[list[str]]) -> None:
    for row in table:
        for cell in row:
            # A number may be negative; text may not start a formula.
            if cell.lstrip("-").replace(".", "").isdigit():
                continue
            assert not cell.startswith(FORMULA_STARTS), (cell, row)


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
    }


@pytest.mark.usefixtures("history")
def test_no_csv_cell_starts_a_formula(
    client: TestClient, readers: dict[str, str], settings: Settings
) -> None:
    regulator = bearer(readers["regulator"])
    report = client.get(
        "/stats/report", params={"year": START.year, "format": "csv"}, headers=regulator
    )
    assert report.status_code == 200
    table = cells(report.text)
    assert_no_formula(table)
    assert ["deactivations", "'" + REASON.lower(), "items", "1"] in table
    assert any(row[1] == f"'{PLATFORM} / ncii" for row in table), table
    assert any(f"(ncii, {CASE})" in row[1] for row in table)  # inside the cell: inert
    matches = client.get(
        "/stats/matches",
        params={"from": DAY, "to": DAY, "by": "platform", "format": "csv"},
        headers=regulator,
    )
    table = cells(matches.text)
    assert_no_formula(table)
    assert [DAY, "'" + PLATFORM, "2", "2", "2", "0", "0"] in table
    own = client.get(
        "/stats/matches",
        params={"from": DAY, "to": DAY, "by": "platform", "format": "csv"},
        headers=bearer(readers["platform"]),
    )
    assert_no_formula(cells(own.text))

    printed = subprocess.run(
        [HASHWALL, "stats", "report", "--year", str(START.year), "--format", "csv"],
        env=cli_env(settings),
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert_no_formula(cells(printed.stdout.decode()))

    exported = subprocess.run(
        [HASHWALL, "export", "-", "--format", "csv"],
        env=cli_env(settings),
        capture_output=True,
        timeout=60,
        check=True,
    )
    table = cells(exported.stdout.decode())
    assert_no_formula(table)
    assert ["pdq", "ab" * 32, "deepfake", "'" + IMPORTED_CASE, ""] in table  # hash byte-exact
    assert sum(row[3] == "'" + CASE for row in table) >= 1


@pytest.mark.usefixtures("history")
def test_a_platform_sees_item_ids_and_categories_but_not_case_references(
    client: TestClient, readers: dict[str, str]
) -> None:
    own = client.get("/events", headers=bearer(readers["platform"])).json()["events"]
    assert [e["item_id"] for e in own] == [2, 1]
    assert all(e["category"] == "ncii" and "case_ref" not in e for e in own)
    everyone = client.get("/events", headers=bearer(readers["regulator"])).json()["events"]
    assert [e["case_ref"] for e in everyone] == [CASE, CASE]

    params = {"year": str(START.year)}
    top = client.get("/stats/report", params=params, headers=bearer(readers["platform"]))
    assert top.json()["reuploads"]["top_items"] == [
        {"item_id": 1, "category": "ncii", "blocked": 1},
        {"item_id": 2, "category": "ncii", "blocked": 1},
    ]
    as_csv = client.get(
        "/stats/report", params={**params, "format": "csv"}, headers=bearer(readers["platform"])
    )
    assert CASE not in as_csv.text
    regulators = client.get("/stats/report", params=params, headers=bearer(readers["regulator"]))
    assert {i["case_ref"] for i in regulators.json()["reuploads"]["top_items"]} == {CASE}
