"""Two app instances on one database stay in step through the change feed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.sync import IndexFollower, feed_position
from app.settings import Settings
from testkit import edits
from tests.conftest import PHOTOS, bearer


def test_a_registration_through_one_process_is_matched_by_another(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    photo = PHOTOS[25]
    upload = edits.jpeg(edits.mirror(edits.load_rgb(str(photo))), 70)
    # A long interval: the test drives the follower by hand.
    slow = settings.model_copy(update={"index_sync_seconds": 3600})
    with TestClient(create_app(slow)) as first, TestClient(create_app(slow)) as second:
        follower: IndexFollower = IndexFollower(
            second.app.state.hashwall.sessions,  # type: ignore[attr-defined]
            second.app.state.hashwall.index,  # type: ignore[attr-defined]
            start=0,
        )
        item = first.post(
            "/register",
            files={"file": ("p", photo.read_bytes())},
            data={"category": "ncii"},
            headers=staff,
        ).json()
        assert (
            second.post("/check", files={"file": ("u", upload)}, headers=platform).json()[
                "decision"
            ]
            == "allow"
        )
        assert follower.poll() == 1
        body = second.post("/check", files={"file": ("u", upload)}, headers=platform).json()
        assert body["decision"] == "block"
        assert body["matches"][0]["item_id"] == item["item_id"]
        assert follower.poll() == 0  # each change is applied once
        first.delete(f"/items/{item['item_id']}?reason=withdrawn", headers=staff)
        assert follower.poll() == 1
        assert (
            second.post("/check", files={"file": ("u", upload)}, headers=platform).json()[
                "decision"
            ]
            == "allow"
        )
        with second.app.state.hashwall.sessions() as session:  # type: ignore[attr-defined]
            assert feed_position(session) == 2


def test_the_background_follower_applies_changes_while_serving(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    import time

    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    photo = PHOTOS[26]
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        first.post(
            "/register",
            files={"file": ("p", photo.read_bytes())},
            data={"category": "deepfake"},
            headers=staff,
        )
        # The follower polls every 0.25 s; the deadline is only a hang guard.
        deadline = time.monotonic() + 30
        decision = "allow"
        while decision != "block" and time.monotonic() < deadline:
            decision = second.post(
                "/check", files={"file": ("u", photo.read_bytes())}, headers=platform
            ).json()["decision"]
        assert decision == "block"
