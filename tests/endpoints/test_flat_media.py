"""A flat picture carries no information: it is not registered, and no check
matches on its hash (every flat upload would otherwise match every flat item)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app import db
from app.main import create_app
from app.models import utcnow
from app.repository.hashes import NewHash
from app.services.index_store import new_index
from app.services.registering import register_item
from app.settings import Settings
from hashing.types import HashValue, Signal
from matching import Category
from testkit import videos
from tests.api import Api, bearer
from tests.conftest import PHOTOS

ZERO_PDQ = "0" * 64


def flat_png(width: int, height: int, level: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), level).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("width", "height", "level"), [(7999, 7999, 0), (300, 200, 128), (640, 480, 255)]
)
@pytest.mark.one_database
def test_flat_images_are_not_registered(
    client: TestClient, api: Api, width: int, height: int, level: int
) -> None:
    response = api.register(flat_png(width, height, level), "flat.png")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "low_quality"
    assert client.get("/readyz").json()["index"] == {"pdq": 0, "phash": 0, "sha256": 0}


@pytest.mark.one_database
def test_a_flat_video_is_not_registered(api: Api, tmp_path: Path) -> None:
    grey = np.full((240, 320, 3), 90, np.uint8)
    path = videos.write(videos.Video([grey] * 30, 10.0), tmp_path / "grey.mp4")
    response = api.register(path.read_bytes(), "grey.mp4")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "low_quality"


@pytest.mark.parametrize(
    "hashes", [{"pdq": [ZERO_PDQ]}, {"pdq": ["f" * 64]}, {"phash": ["0" * 16]}]
)
@pytest.mark.one_database
def test_hashes_of_flat_pictures_are_not_registered(api: Api, hashes: dict[str, list[str]]) -> None:
    response = api.register_hashes({"hashes": hashes, "category": "ncii"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "uninformative_hash"
    vpdq = api.register_hashes(
        {"vpdq": f"{ZERO_PDQ},100,0.000\n{ZERO_PDQ},100,1.000", "category": "ncii"}
    )
    assert vpdq.status_code == 422, vpdq.text
    assert vpdq.json()["error"] == "low_quality"


def test_an_imported_flat_hash_is_rejected(client: TestClient, api_keys: dict[str, str]) -> None:
    listed = f"signal,hash\npdq,{ZERO_PDQ}\npdq,{'ab' * 32}\n"
    response = client.post(
        "/import",
        files={"file": ("list.csv", listed.encode())},
        data={"format": "csv", "category": "ncii"},
        headers=bearer(api_keys["admin"]),
    )
    body = response.json()
    assert (body["added"], body["rejected"]) == (1, 1), body
    assert "flat image" in body["rejections"][0]["reason"]


@pytest.mark.one_database
def test_no_check_matches_on_a_flat_hash(api_keys: dict[str, str], settings: Settings) -> None:
    """An item holding a flat picture's hash (registered before this rule, say)
    is not matched by flat uploads, by media or by hashes."""
    engine = db.make_engine(settings)
    with db.make_sessionmaker(engine)() as session:
        register_item(
            session,
            new_index(settings),  # the server loads it from the database below
            actor="before",
            media_type="hashes",
            category=Category.NCII,
            case_ref=None,
            note=None,
            quality=None,
            hashes=[NewHash(HashValue.from_hex(Signal.PDQ, ZERO_PDQ))],
            now=utcnow(),
        )
    engine.dispose()
    platform = bearer(api_keys["platform"])
    with TestClient(create_app(settings)) as fresh:
        assert fresh.get("/readyz").json()["index"]["pdq"] == 1
        for level in (0, 128, 255):
            checked = fresh.post(
                "/check", files={"file": ("f.png", flat_png(300, 200, level))}, headers=platform
            )
            assert checked.status_code == 200, checked.text
            assert checked.json()["decision"] == "allow", checked.json()
        by_hash = fresh.post(
            "/check/hashes", json={"hashes": {"pdq": [ZERO_PDQ]}}, headers=platform
        )
        assert by_hash.json()["decision"] == "allow"
        photo = fresh.post(
            "/check", files={"file": ("p.jpg", PHOTOS[2].read_bytes())}, headers=platform
        )
        assert photo.json()["decision"] == "allow"
