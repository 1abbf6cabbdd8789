"""The annual transparency report, the command line's copy of it, and retention."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import auth, db
from app.main import create_app
from app.models import ItemDayCount, MatchEvent
from app.settings import Settings
from tests.api import Api, bearer
from tests.clock import START, SteadyClock
from tests.conftest import PHOTOS

YEAR = START.year
HASHWALL = str(Path(sys.executable).parent / "hashwall")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The service on a clock that starts on a known day (tests.clock)."""
    with TestClient(create_app(settings, clock=SteadyClock())) as test_client:
        yield test_client


@pytest.fixture
def ops_key(settings: Settings) -> str:
    from app.services import keys

    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        key = keys.create_key(session, "ops", [auth.Scope.EXPORT_ALL], "test")
    engine.dispose()
    return key


@pytest.fixture
def history(client: TestClient, api_keys: dict[str, str]) -> dict[str, int]:
    """Three registrations, re-uploads of two of them, then two deactivations."""
    staff = bearer(api_keys["trust_safety"])
    ids = {}
    api = Api(client, api_keys)
    for path, category in zip(PHOTOS[:3], ["ncii", "deepfake", "ncii"], strict=True):
        response = api.register(
            path.read_bytes(), path.name, category=category, case_ref=f"CASE-{path.stem}"
        )
        assert response.status_code == 201
        ids[path.name] = response.json()["item_id"]
    for path in [PHOTOS[0], PHOTOS[0], PHOTOS[0], PHOTOS[1], PHOTOS[40], PHOTOS[41]]:
        api.check(path.read_bytes(), path.name)
    for name, reason in [(PHOTOS[1].name, "False positive"), (PHOTOS[2].name, "withdrawn case")]:
        response = client.delete(f"/items/{ids[name]}", params={"reason": reason}, headers=staff)
        assert response.status_code == 200
    return ids


def report(client: TestClient, key: str, **params: str) -> dict[str, object]:
    response = client.get(
        "/stats/report", params={"year": str(YEAR), **params}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_annual_report_has_the_regulators_numbers(
    client: TestClient, ops_key: str, history: dict[str, int]
) -> None:
    body = report(client, ops_key)
    assert body["registrations"] == {"total": 3, "by_category": {"deepfake": 1, "ncii": 2}}
    assert body["deactivations"] == {
        "total": 2,
        "by_reason": {"false positive": 1, "withdrawn case": 1},
    }
    assert body["checks"] == {"checks": 6, "blocks": 4, "reviews": 0, "allows": 2}
    assert {"platform": "platform", "category": "ncii", "checks": 3, "blocks": 3, "reviews": 0} in (
        body["by_platform_category"]  # type: ignore[operator]
    )
    reuploads = body["reuploads"]
    assert isinstance(reuploads, dict)
    assert reuploads["items_blocked"] == 2
    assert reuploads["blocked"] == 4
    first = PHOTOS[0].name
    assert reuploads["top_items"][0] == {
        "item_id": history[first],
        "category": "ncii",
        "case_ref": f"CASE-{PHOTOS[0].stem}",
        "blocked": 3,
    }
    waited = body["time_to_first_block"]
    assert isinstance(waited, dict)
    assert waited["items"] == 2
    assert 0 <= waited["median_hours"] < 1  # re-uploaded within the test run


def test_a_platform_gets_its_own_checks_in_the_report(
    client: TestClient, history: dict[str, int], settings: Settings
) -> None:
    assert history
    from app.services import keys

    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        other = keys.create_key(session, "other-platform", [auth.Scope.EXPORT], "test")
    engine.dispose()
    body = report(client, other)
    assert body["platform"] == "other-platform"
    assert body["checks"] == {"checks": 0, "blocks": 0, "reviews": 0, "allows": 0}
    assert body["reuploads"] == {"items_blocked": 0, "blocked": 0, "top_items": []}


def test_report_csv_and_command_line_agree(
    client: TestClient, ops_key: str, history: dict[str, int], settings: Settings
) -> None:
    assert history
    response = client.get(
        "/stats/report", params={"year": str(YEAR), "format": "csv"}, headers=bearer(ops_key)
    )
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "subject", "metric", "value"]
    assert ["registrations", "ncii", "items", "2"] in rows
    assert ["checks", "all platforms", "blocks", "4"] in rows
    env = {
        **os.environ,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
    }
    printed = subprocess.run(
        [HASHWALL, "stats", "report", "--year", str(YEAR), "--format", "csv"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert printed.stdout == response.content  # byte for byte: BOM, CRLF, total rows


def test_purge_folds_events_and_every_export_keeps_its_totals(
    client: TestClient, ops_key: str, history: dict[str, int], settings: Settings
) -> None:
    assert history
    today = START.date()
    params = {"from": today.isoformat(), "to": today.isoformat(), "by": "platform,category"}
    before_report = report(client, ops_key)
    before_stats = client.get("/stats/matches", params=params, headers=bearer(ops_key)).json()
    env = {
        **os.environ,
        "HASHWALL_DATA_DIR": str(settings.data_dir),
        "HASHWALL_DATABASE_URL": settings.effective_database_url,
    }
    tomorrow = (today + timedelta(days=1)).isoformat()
    done = subprocess.run(
        [HASHWALL, "events", "purge", "--before", tomorrow],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "purged 4 match events" in done.stderr
    assert client.get("/events", headers=bearer(ops_key)).json()["events"] == []
    assert report(client, ops_key) == before_report
    after_stats = client.get("/stats/matches", params=params, headers=bearer(ops_key)).json()
    assert after_stats == before_stats
    # Purging again finds nothing and changes nothing.
    again = subprocess.run(
        [HASHWALL, "events", "purge", "--before", tomorrow],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "purged 0 match events" in again.stderr
    assert report(client, ops_key) == before_report


def test_retention_setting_purges_old_events_at_start(
    client: TestClient, api_keys: dict[str, str], settings: Settings
) -> None:
    path = PHOTOS[5]
    api = Api(client, api_keys)
    api.register(path.read_bytes(), path.name, category="other")
    for _ in range(3):
        api.check(path.read_bytes(), path.name)
    engine = db.make_engine(settings)
    sessions = db.make_sessionmaker(engine)
    with sessions() as session:
        # Two of the three events happened ten days ago.
        ids = session.scalars(select(MatchEvent.id).order_by(MatchEvent.id)).all()
        for event_id in ids[:2]:
            event = session.get(MatchEvent, event_id)
            assert event is not None
            event.created_at = START - timedelta(days=10)
        session.commit()
    kept = settings.model_copy(update={"event_retention_days": 7})
    with TestClient(create_app(kept, clock=SteadyClock())):
        pass  # the lifespan applies retention once at start
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchEvent)) == 1
        folded = session.scalar(select(func.sum(ItemDayCount.count)))
        assert folded == 2
    engine.dispose()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"year": "1990"}, 422),
        ({"year": "next"}, 422),
        ({"year": "2024", "tz": "Nowhere/City"}, 422),
    ],
)
def test_bad_report_parameters(
    client: TestClient, ops_key: str, params: dict[str, str], status: int
) -> None:
    assert client.get("/stats/report", params=params, headers=bearer(ops_key)).status_code == status


def test_a_year_without_data_is_all_zeros(client: TestClient, ops_key: str) -> None:
    body = client.get("/stats/report", params={"year": "2011"}, headers=bearer(ops_key)).json()
    assert body["registrations"] == {"total": 0, "by_category": {}}
    assert body["checks"] == {"checks": 0, "blocks": 0, "reviews": 0, "allows": 0}
    assert body["time_to_first_block"] == {"items": 0, "median_hours": None}


def test_retention_cutoff_is_days_before_today() -> None:
    from app.services.retention import retention_cutoff

    assert retention_cutoff(30, date(2026, 3, 31)) == date(2026, 3, 1)
