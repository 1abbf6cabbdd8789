"""Two app instances on one database stay in step through the change feed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.sync import IndexFollower, feed_position
from app.settings import Settings
from testkit import edits
from tests.api import Api, bearer
from tests.conftest import PHOTOS
from tests.waiting import wait_until


def test_a_registration_through_one_process_is_matched_by_another(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    staff = bearer(api_keys["trust_safety"])
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
        checks = Api(second, api_keys)
        item = Api(first, api_keys).register(photo.read_bytes(), "p").json()
        assert checks.check(upload, "u").json()["decision"] == "allow"
        assert follower.poll() == 1
        body = checks.check(upload, "u").json()
        assert body["decision"] == "block"
        assert body["matches"][0]["item_id"] == item["item_id"]
        assert follower.poll() == 0  # each change is applied once
        first.delete(f"/items/{item['item_id']}?reason=withdrawn", headers=staff)
        assert follower.poll() == 1
        assert checks.check(upload, "u").json()["decision"] == "allow"
        with second.app.state.hashwall.sessions() as session:  # type: ignore[attr-defined]
            assert feed_position(session) == 2


def test_the_background_follower_applies_changes_while_serving(
    settings: Settings, api_keys: dict[str, str]
) -> None:
    photo = PHOTOS[26]
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        Api(first, api_keys).register(photo.read_bytes(), "p", category="deepfake")
        checks = Api(second, api_keys)
        # The follower polls every 0.25 s; the deadline is only a hang guard.
        assert wait_until(
            lambda: checks.check(photo.read_bytes(), "u").json()["decision"] == "block"
        )
