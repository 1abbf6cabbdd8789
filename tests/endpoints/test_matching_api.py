"""Register real photos and check their real re-upload edits through the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import db
from app.models import AuditEvent, CheckCount, MatchEvent
from app.settings import Settings
from testkit import edits
from tests.api import Api, bearer
from tests.conftest import PHOTOS

REGISTERED = PHOTOS[:6]
UNRELATED = PHOTOS[30:42]

POSITIVE_EDITS: dict[str, tuple[Callable[[edits.Pixels], bytes], str]] = {
    "jpeg_q70": (lambda p: edits.jpeg(p, 70), "original"),
    "resize_50": (lambda p: edits.jpeg(edits.resize(p, 0.5)), "original"),
    "pad_20_white": (lambda p: edits.jpeg(edits.pad(p, 0.2, (255, 255, 255))), "original"),
    "pad_10_black": (lambda p: edits.png(edits.pad(p, 0.1)), "original"),
    "letterbox": (lambda p: edits.jpeg(edits.letterbox(p)), "original"),
    "grayscale": (lambda p: edits.jpeg(edits.grayscale(p)), "original"),
    "mirror": (lambda p: edits.jpeg(edits.mirror(p)), "flip_horizontal"),
    "rotate_90": (lambda p: edits.jpeg(edits.rotate90(p, 1)), "rotate_90"),
    "rotate_270": (lambda p: edits.jpeg(edits.rotate90(p, 3)), "rotate_270"),
    "rotate_180": (lambda p: edits.jpeg(edits.rotate90(p, 2)), "rotate_180"),
}


def count(settings: Settings, model: type) -> int:
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        n = session.scalar(select(func.count()).select_from(model)) or 0
    engine.dispose()
    return int(n)


@pytest.fixture
def registered(api: Api) -> dict[str, int]:
    """Register the first photos; returns item ids by file name."""
    ids = {}
    for path in REGISTERED:
        response = api.register(
            path.read_bytes(), path.name, case_ref=f"CASE-{path.stem}", note="test"
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["duplicate_of"] is None
        assert body["media_type"] == "image"
        assert body["category"] == "ncii"
        assert set(body["hashes"]) == {"pdq", "phash", "sha256"}
        assert len(body["hashes"]["pdq"][0]) == 64
        assert len(body["hashes"]["phash"][0]) == 16
        assert body["quality"] >= 50
        ids[path.name] = body["item_id"]
    return ids


def test_register_then_check_every_edit_blocks_the_right_item(
    api: Api, registered: dict[str, int], settings: Settings
) -> None:
    sent = 0
    for path in REGISTERED:
        pixels = edits.load_rgb(str(path))
        for name, (edit, transform) in POSITIVE_EDITS.items():
            response = api.check(edit(pixels), upload_ref=f"{path.stem}-{name}")
            sent += 1
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["decision"] == "block", (path.name, name, body)
            best = body["matches"][0]
            assert best["item_id"] == registered[path.name], (path.name, name)
            assert best["category"] == "ncii"
            assert best["transform"] == transform, (path.name, name, best)
            assert body["media_type"] == "image"
            assert body["elapsed_ms"] > 0
    assert count(settings, MatchEvent) == sent


@pytest.mark.one_database
def test_exact_copy_matches_by_sha256_first(api: Api, registered: dict[str, int]) -> None:
    path = REGISTERED[0]
    body = api.check(path.read_bytes(), "x").json()
    assert body["decision"] == "block"
    assert body["matches"][0] == {
        "item_id": registered[path.name],
        "category": "ncii",
        "signal": "sha256",
        "distance": 0,
        "transform": "original",
        # The coverage fields are for clips and local matches, inliers and region
        # for local matches; a match by digest leaves them null.
        "upload_share": None,
        "item_share": None,
        "upload_span": None,
        "item_span": None,
        "inliers": None,
        "region": None,
    }


def test_unrelated_photos_are_allowed_and_counted(
    api: Api, registered: dict[str, int], settings: Settings
) -> None:
    assert registered
    for path in UNRELATED:
        body = api.check(path.read_bytes(), path.name).json()
        assert body["decision"] == "allow", (path.name, body)
        assert body["matches"] == []
    assert count(settings, MatchEvent) == 0
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        rows = session.execute(
            select(
                CheckCount.platform,
                CheckCount.decision,
                CheckCount.category,
                func.sum(CheckCount.count),
            ).group_by(CheckCount.platform, CheckCount.decision, CheckCount.category)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("platform", "allow", "", len(UNRELATED))]


def test_match_event_records_who_what_and_upload_ref(
    api: Api, registered: dict[str, int], settings: Settings
) -> None:
    path = REGISTERED[1]
    upload = edits.jpeg(edits.mirror(edits.load_rgb(str(path))))
    api.check(upload, "u.jpg", upload_ref="post-77")
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        event = session.scalars(select(MatchEvent)).one()
    engine.dispose()
    assert event.platform == "platform"
    assert event.upload_ref == "post-77"
    assert event.decision == "block"
    assert event.item_id == registered[path.name]
    assert event.signal == "pdq"
    assert event.transform == "flip_horizontal"
    assert event.created_at.tzinfo is not None


def test_near_duplicate_registration_returns_the_existing_item(
    api: Api, registered: dict[str, int], settings: Settings
) -> None:
    path = REGISTERED[2]
    before = count(settings, AuditEvent)
    mirrored = edits.jpeg(edits.mirror(edits.load_rgb(str(path))), 80)
    response = api.register(mirrored, "m.jpg", category="deepfake")
    assert response.status_code == 200
    body = response.json()
    assert body["item_id"] == registered[path.name]
    assert body["duplicate_of"]["item_id"] == registered[path.name]
    assert body["duplicate_of"]["case_ref"] == f"CASE-{path.stem}"
    assert body["category"] == "ncii"
    assert count(settings, AuditEvent) == before


def test_register_hashes_only_then_check_by_hash_and_by_media(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    path = PHOTOS[20]
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    # Hash it the way a partner would hand it over: via our own hasher on its side.
    media = client.post(
        "/register",
        files={"file": ("p", path.read_bytes())},
        data={"category": "csam"},
        headers=staff,
    ).json()
    client.delete(f"/items/{media['item_id']}?reason=re-registering as hashes", headers=staff)
    response = client.post(
        "/register",
        json={"hashes": {"pdq": media["hashes"]["pdq"]}, "category": "csam", "case_ref": "SN-1"},
        headers=staff,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["media_type"] == "hashes"
    assert body["quality"] is None
    assert body["hashes"] == {"pdq": media["hashes"]["pdq"]}
    by_hash = client.post(
        "/check/hashes", json={"hashes": {"pdq": media["hashes"]["pdq"]}}, headers=platform
    ).json()
    assert by_hash["decision"] == "block"
    assert by_hash["matches"][0]["item_id"] == body["item_id"]
    assert by_hash["media_type"] == "hashes"
    upload = edits.jpeg(edits.rotate90(edits.load_rgb(str(path))), 75)
    by_media = client.post("/check", files={"file": ("u", upload)}, headers=platform).json()
    assert by_media["decision"] == "block"
    assert by_media["matches"][0]["item_id"] == body["item_id"]


def test_deactivated_item_stops_matching_and_keeps_its_trail(
    client: TestClient, api_keys: dict[str, str], registered: dict[str, int], settings: Settings
) -> None:
    path = REGISTERED[3]
    item_id = registered[path.name]
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    upload = edits.jpeg(edits.load_rgb(str(path)), 70)
    assert (
        client.post("/check", files={"file": ("u", upload)}, headers=platform).json()["decision"]
        == "block"
    )
    response = client.delete(
        f"/items/{item_id}", params={"reason": "false positive"}, headers=staff
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    after = client.post("/check", files={"file": ("u", upload)}, headers=platform).json()
    assert after["decision"] == "allow"
    item = client.get(f"/items/{item_id}", headers=staff).json()
    assert item["active"] is False
    assert item["deactivation_reason"] == "false positive"
    assert item["deactivated_by"] == "trust_safety"
    assert item["created_by"] == "trust_safety"
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id)
        ).all()
    engine.dispose()
    assert actions == ["register", "deactivate"]


def test_index_is_rebuilt_from_the_database_on_start(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    from app.main import create_app

    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    keep, drop = PHOTOS[10], PHOTOS[11]
    with TestClient(create_app(settings)) as first:
        ids = {}
        for path in (keep, drop):
            ids[path] = first.post(
                "/register",
                files={"file": ("p", path.read_bytes())},
                data={"category": "ncii"},
                headers=staff,
            ).json()["item_id"]
        first.delete(f"/items/{ids[drop]}?reason=withdrawn", headers=staff)
        kept = first.get(f"/items/{ids[keep]}", headers=staff).json()["hashes"]
    # The kept item's hashes (its views: with local features it stores no crop
    # and rotation variants and no bands), not the dropped one's.
    assert len(kept["pdq"]) >= 1
    with TestClient(create_app(settings)) as second:
        sizes = second.get("/readyz").json()["index"]
        assert sizes == {signal: len(values) for signal, values in kept.items()}
        for path, decision in ((keep, "block"), (drop, "allow")):
            upload = edits.jpeg(edits.resize(edits.load_rgb(str(path)), 0.5))
            body = second.post("/check", files={"file": ("u", upload)}, headers=platform).json()
            assert body["decision"] == decision, path.name


def test_low_quality_match_is_only_reviewed(client: TestClient, api_keys: dict[str, str]) -> None:
    import cv2
    import numpy as np

    from hashing.pipeline import hash_image_bytes
    from hashing.transforms import Transform

    # A smooth gradient: PDQ quality 0, the kind of image that collides with others.
    y, x = np.mgrid[0:400, 0:400]
    gray = (120 + 6 * np.sin(x / 60.0) + 6 * np.cos(y / 80.0)).astype(np.uint8)
    flat = np.dstack([gray, gray, gray])
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    refused = client.post(
        "/register",
        files={"file": ("f.png", edits.png(flat))},
        data={"category": "other"},
        headers=staff,
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "low_quality"
    # A partner's list may still hold its hash, with the quality it was made at.
    hashed = hash_image_bytes(edits.png(flat))
    assert hashed.quality < 50
    pdq = hashed.pdq[Transform.ORIGINAL].to_hex()
    imported = client.post(
        "/import",
        files={"file": ("l.csv", f"signal,hash,quality\npdq,{pdq},{hashed.quality}\n".encode())},
        data={"format": "csv", "category": "other"},
        headers=bearer(api_keys["admin"]),
    )
    assert imported.json()["added"] == 1
    # The same pixels in another container: identical PDQ, different file digest.
    bmp = cv2.imencode(".bmp", flat)[1].tobytes()
    body = client.post("/check", files={"file": ("g.bmp", bmp)}, headers=platform).json()
    assert body["quality"] < 50
    assert body["decision"] == "review"
    assert body["matches"][0]["distance"] == 0
