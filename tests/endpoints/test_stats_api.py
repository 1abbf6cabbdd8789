"""Transparency exports, the match log and the audit trail through the API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.repository.checks import count_check
from app.services import keys
from app.settings import Settings
from matching import Decision
from tests.api import bearer
from tests.clock import START, SteadyClock
from tests.conftest import PHOTOS


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The service on a clock that starts on a known day (tests.clock)."""
    with TestClient(create_app(settings, clock=SteadyClock())) as test_client:
        yield test_client


REGISTERED = PHOTOS[:2]
UNRELATED = PHOTOS[40:43]
TODAY = START.date().isoformat()
PLATFORM_A = "플랫폼-a"  # platform names are free text: Korean must survive CSV


@pytest.fixture
def roles(settings: Settings) -> dict[str, str]:
    engine = db.make_engine(settings)
    scopes = {
        PLATFORM_A: [auth.Scope.CHECK, auth.Scope.EXPORT],
        "platform-b": [auth.Scope.CHECK, auth.Scope.EXPORT],
        "regulator": [auth.Scope.EXPORT_ALL],
        "trust-safety": [auth.Scope.REGISTER],
    }
    with db.make_sessionmaker(engine)() as session:
        made = {name: keys.create_key(session, name, s, "test") for name, s in scopes.items()}
    engine.dispose()
    return made


@pytest.fixture
def traffic(client: TestClient, roles: dict[str, str]) -> dict[str, dict[str, int]]:
    """Register two photos, then checks from two platforms; returns what each sent."""
    for path in REGISTERED:
        response = client.post(
            "/register",
            files={"file": (path.name, path.read_bytes())},
            data={"category": "ncii" if path == REGISTERED[0] else "deepfake"},
            headers=bearer(roles["trust-safety"]),
        )
        assert response.status_code == 201
    plan = {PLATFORM_A: REGISTERED + UNRELATED, "platform-b": [REGISTERED[1], UNRELATED[0]]}
    sent: dict[str, dict[str, int]] = {}
    for platform, paths in plan.items():
        tally = {"checks": 0, "blocks": 0, "allows": 0}
        for i, path in enumerate(paths):
            response = client.post(
                "/check",
                files={"file": (path.name, path.read_bytes())},
                data={"upload_ref": f"{platform}-{i}"},
                headers=bearer(roles[platform]),
            )
            decision = response.json()["decision"]
            tally["checks"] += 1
            tally[f"{decision}s"] += 1
        sent[platform] = tally
    assert sent[PLATFORM_A] == {"checks": 5, "blocks": 2, "allows": 3}
    return sent


def export(client: TestClient, key: str, **params: str) -> dict[str, object]:
    response = client.get(
        "/stats/matches", params={"from": TODAY, "to": TODAY, **params}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_platform_sees_its_own_checks_and_the_regulator_sees_all(
    client: TestClient, roles: dict[str, str], traffic: dict[str, dict[str, int]]
) -> None:
    own = export(client, roles[PLATFORM_A], by="platform")
    assert own["totals"] == {
        "checks": 5,
        "matches": 2,
        "blocks": 2,
        "reviews": 0,
        "allows": 3,
    }
    assert {row["platform"] for row in own["rows"]} == {PLATFORM_A}  # type: ignore[attr-defined]
    everything = export(client, roles["regulator"], by="platform")
    totals = everything["totals"]
    assert isinstance(totals, dict)
    assert totals["checks"] == sum(t["checks"] for t in traffic.values()) == 7
    assert totals["blocks"] == 3
    rows = {row["platform"]: row for row in everything["rows"]}  # type: ignore[attr-defined]
    assert rows["platform-b"]["checks"] == 2


def test_groups_by_category_decision_and_signal(
    client: TestClient, roles: dict[str, str], traffic: dict[str, dict[str, int]]
) -> None:
    assert traffic
    body = export(client, roles["regulator"], by="category,decision,signal")
    rows = {
        (r["category"], r["decision"], r["signal"]): r["checks"]
        for r in body["rows"]  # type: ignore[attr-defined]
    }
    # Exact copies match by SHA-256 first; allows have no category or signal.
    assert rows == {
        ("ncii", "block", "sha256"): 1,
        ("deepfake", "block", "sha256"): 2,
        ("", "allow", ""): 4,
    }


def test_csv_opens_in_a_spreadsheet(
    client: TestClient, roles: dict[str, str], traffic: dict[str, dict[str, int]]
) -> None:
    assert traffic
    response = client.get(
        "/stats/matches",
        params={"from": TODAY, "to": TODAY, "by": "platform", "format": "csv"},
        headers=bearer(roles["regulator"]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())  # Excel's UTF-8 marker
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["period", "platform", "checks", "matches", "blocks", "reviews", "allows"]
    assert [TODAY, PLATFORM_A, "5", "2", "2", "0", "3"] in table
    assert table[-1] == ["total", "", "7", "3", "3", "0", "4"]


def test_periods_follow_the_time_zone(
    client: TestClient, roles: dict[str, str], settings: Settings
) -> None:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        # 23:50 UTC on 1 March is 08:50 on 2 March in Seoul; 2 March is a Monday.
        for at, decision in [
            (datetime(2026, 3, 1, 23, 50, tzinfo=UTC), Decision.BLOCK),
            (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), Decision.ALLOW),
            (datetime(2026, 3, 31, 20, 0, tzinfo=UTC), Decision.REVIEW),
        ]:
            count_check(
                session, at, "platform-b", decision, "ncii" if decision != "allow" else None, None
            )
        session.commit()
    engine.dispose()
    key = roles["regulator"]
    days_utc = export(client, key, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert [(r["period"], r["checks"]) for r in days_utc["rows"]] == [  # type: ignore[attr-defined]
        ("2026-03-01", 2),
        ("2026-03-31", 1),
    ]
    days_seoul = export(
        client, key, **{"from": "2026-03-01", "to": "2026-03-31", "tz": "Asia/Seoul"}
    )
    # The review at 20:00 UTC on 31 March is 1 April in Seoul: outside the range.
    assert [(r["period"], r["checks"]) for r in days_seoul["rows"]] == [  # type: ignore[attr-defined]
        ("2026-03-01", 1),
        ("2026-03-02", 1),
    ]
    weeks = export(
        client,
        key,
        **{"from": "2026-03-01", "to": "2026-03-31", "group_by": "week", "tz": "Asia/Seoul"},
    )
    assert [(r["period"], r["checks"]) for r in weeks["rows"]] == [  # type: ignore[attr-defined]
        ("2026-02-23", 1),  # Sunday 1 March belongs to the week of Monday 23 February
        ("2026-03-02", 1),
    ]
    months = export(client, key, **{"from": "2026-01-01", "to": "2026-12-31", "group_by": "month"})
    assert [(r["period"], r["blocks"], r["reviews"], r["allows"]) for r in months["rows"]] == [  # type: ignore[attr-defined]
        ("2026-03", 1, 1, 1)
    ]


def test_a_period_with_no_data_is_empty_and_well_formed(
    client: TestClient, roles: dict[str, str]
) -> None:
    body = export(client, roles["regulator"], **{"from": "2019-01-01", "to": "2019-12-31"})
    assert body["rows"] == []
    assert body["totals"] == {"checks": 0, "matches": 0, "blocks": 0, "reviews": 0, "allows": 0}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_period"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "invalid_period"),
        ({"from": "2026-01-01", "to": "2026-01-02", "tz": "Mars/Olympus"}, "invalid_timezone"),
        ({"from": "2026-01-01", "to": "2026-01-02", "group_by": "year"}, "invalid_request"),
        ({"from": "2026-01-01", "to": "2026-01-02", "by": "colour"}, "invalid_group"),
        ({"from": "2026-01-01", "to": "2026-01-02", "by": "platform,platform"}, "invalid_group"),
        ({"from": "yesterday", "to": "2026-01-02"}, "invalid_request"),
        ({"to": "2026-01-02"}, "invalid_request"),
        ({"from": "2026-01-01", "to": "2026-01-02", "format": "xlsx"}, "invalid_request"),
    ],
)
def test_bad_export_parameters_get_a_clear_422(
    client: TestClient, roles: dict[str, str], params: dict[str, str], code: str
) -> None:
    response = client.get("/stats/matches", params=params, headers=bearer(roles["regulator"]))
    assert response.status_code == 422
    assert response.json()["error"] == code


def test_exports_need_an_export_key(client: TestClient, roles: dict[str, str]) -> None:
    params = {"from": TODAY, "to": TODAY}
    assert client.get("/stats/matches", params=params).status_code == 401
    denied = client.get("/stats/matches", params=params, headers=bearer(roles["trust-safety"]))
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"


def test_events_page_newest_first_without_repeats(
    client: TestClient, roles: dict[str, str], traffic: dict[str, dict[str, int]]
) -> None:
    assert traffic
    key = roles["regulator"]
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "1"} if cursor is None else {"limit": "1", "cursor": cursor}
        body = client.get("/events", params=params, headers=bearer(key)).json()
        seen += [e["event_id"] for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3  # three matched checks, one per page
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 3
    mine = client.get("/events", headers=bearer(roles[PLATFORM_A])).json()["events"]
    assert {e["platform"] for e in mine} == {PLATFORM_A}
    assert {e["upload_ref"] for e in mine} == {f"{PLATFORM_A}-0", f"{PLATFORM_A}-1"}
    # A platform cannot read another's events by asking for them.
    theirs = client.get(
        "/events", params={"platform": "platform-b"}, headers=bearer(roles[PLATFORM_A])
    ).json()["events"]
    assert {e["platform"] for e in theirs} == {PLATFORM_A}
    by_item = client.get("/events", params={"item_id": "2"}, headers=bearer(key)).json()["events"]
    assert {e["item_id"] for e in by_item} == {2}
    assert len(by_item) == 2
    assert by_item[0]["category"] == "deepfake"
    allows = client.get("/events", params={"decision": "allow"}, headers=bearer(key)).json()
    assert allows["events"] == []  # allows are counted, not logged as match events


def test_audit_trail_pages_and_is_for_operators(
    client: TestClient, roles: dict[str, str], traffic: dict[str, dict[str, int]]
) -> None:
    assert traffic
    denied = client.get("/audit", headers=bearer(roles[PLATFORM_A]))
    assert denied.status_code == 403
    body = client.get("/audit", params={"action": "register"}, headers=bearer(roles["regulator"]))
    events = body.json()["events"]
    assert [e["item_id"] for e in events] == [2, 1]
    assert events[0]["actor"] == "trust-safety"
    assert events[0]["detail"]["category"] == "deepfake"
    keys_made = client.get(
        "/audit", params={"action": "key_create"}, headers=bearer(roles["regulator"])
    ).json()["events"]
    assert {e["detail"]["name"] for e in keys_made} >= {PLATFORM_A, "regulator"}
    bad = client.get(
        "/audit", params={"cursor": "not-a-cursor"}, headers=bearer(roles["regulator"])
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_cursor"


@pytest.mark.parametrize(
    "path",
    [
        "/stats/matches?from=2026-01-01&to=2026-01-02",
        "/stats/report?year=2026",
        "/events",
        "/audit",
    ],
)
def test_transparency_routes_need_a_key(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "missing_api_key"
    wrong = client.get(path, headers=bearer("hw_not-a-key"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/events", {"item_id": "abc"}),
        ("/events", {"limit": "0"}),
        ("/events", {"limit": "1001"}),
        ("/events", {"decision": "maybe"}),
        ("/events", {"from": "yesterday"}),
        ("/audit", {"item_id": "-4"}),
        ("/audit", {"to": "2026-13-01"}),
    ],
)
def test_log_pages_refuse_bad_parameters(
    client: TestClient, roles: dict[str, str], path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params, headers=bearer(roles["regulator"]))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_log_pages_refuse_from_after_to(client: TestClient, roles: dict[str, str]) -> None:
    for path in ("/events", "/audit"):
        response = client.get(
            path,
            params={"from": "2026-02-01", "to": "2026-01-01"},
            headers=bearer(roles["regulator"]),
        )
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_period"
