"""A 10% crop, 20% padding, a mirror, a 5-degree rotation and a screenshot of a
registered photo are blocked through the API, and 50 unrelated photos are not:
with the local tier (the default), and with it off, when registration stores the
global tier's crop and rotation variants instead."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from testkit import edits
from tests.api import bearer
from tests.conftest import PHOTOS

REGISTERED = [PHOTOS[i] for i in (0, 9, 18, 27)]
UNRELATED = [p for p in PHOTOS if p not in REGISTERED][:50]

EDITS: dict[str, Callable[[edits.Pixels], bytes]] = {
    "crop_centre_10pct": lambda p: edits.jpeg(edits.crop_center(p, 0.9)),
    "crop_corner_10pct": lambda p: edits.jpeg(edits.crop_offset(p, 0.9, "top_left")),
    "rotate_5deg": lambda p: edits.jpeg(edits.rotate_small(p, 5)),
    "rotate_-5deg": lambda p: edits.jpeg(edits.rotate_small(p, -5)),
    "pad_20pct": lambda p: edits.jpeg(edits.pad(p, 0.2, (255, 255, 255))),
    "mirror": lambda p: edits.jpeg(edits.mirror(p)),
    "screenshot": lambda p: edits.png(edits.screenshot(p)),
    "text_banner": lambda p: edits.jpeg(edits.banner(p)),
}


@pytest.mark.parametrize("local_features", [True, False], ids=["local", "global-only"])
@pytest.mark.one_database
def test_crops_and_small_rotations_are_blocked_and_unrelated_photos_allowed(
    settings: Settings, api_keys: dict[str, str], local_features: bool
) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"local_features": local_features}))
    ) as client:
        check_edits(client, api_keys, local_features)


def check_edits(client: TestClient, api_keys: dict[str, str], local_features: bool) -> None:
    staff, platform = bearer(api_keys["trust_safety"]), bearer(api_keys["platform"])
    ids = {}
    for path in REGISTERED:
        body = client.post(
            "/register",
            files={"file": (path.name, path.read_bytes())},
            data={"category": "ncii"},
            headers=staff,
        ).json()
        pdq = len(body["hashes"]["pdq"])
        # Views plus 24 variants without local features; views and bands with them.
        assert pdq < 10 if local_features else pdq >= 25
        ids[path] = body["item_id"]
    for path in REGISTERED:
        pixels = edits.load_rgb(str(path))
        for name, edit in EDITS.items():
            body = client.post(
                "/check", files={"file": ("u.jpg", edit(pixels))}, headers=platform
            ).json()
            assert body["decision"] == "block", (path.name, name, body)
            assert body["matches"][0]["item_id"] == ids[path], (path.name, name)
    assert len(UNRELATED) == 50
    for path in UNRELATED:
        body = client.post(
            "/check", files={"file": (path.name, path.read_bytes())}, headers=platform
        ).json()
        assert body["decision"] == "allow", (path.name, body)
