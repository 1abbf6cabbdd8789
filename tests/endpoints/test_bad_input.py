"""Bad input gets a precise 4xx with a JSON body, and changes nothing."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from app.settings import Settings
from testkit import edits
from tests.api import Api, bearer
from tests.conftest import PHOTOS

PHOTO = PHOTOS[5]


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header for a huge image with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def gif_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(edits.load_rgb(str(PHOTO))).save(buf, "GIF")
    return buf.getvalue()


def webp_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(edits.load_rgb(str(PHOTO))).save(buf, "WEBP", quality=80)
    return buf.getvalue()


JPEG = edits.jpeg(edits.load_rgb(str(PHOTO)))
PNG = PHOTO.read_bytes() if PHOTO.suffix == ".png" else edits.png(edits.load_rgb(str(PHOTO)))

BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    "empty": (b"", 400, "empty_file"),
    "text": (b"hello, this is not an image at all" * 10, 415, "unsupported_media_type"),
    "pdf": (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n" * 5, 415, "unsupported_media_type"),
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        415,
        "unsupported_media_type",
    ),
    "exe": (b"MZ\x90\x00" + b"\x00" * 200, 415, "unsupported_media_type"),
    "elf": (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, 415, "unsupported_media_type"),
    "mp4": (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, 422, "corrupt_video"),
    "webm": (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + b"\x00" * 200, 422, "corrupt_video"),
    "heic": (
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200,
        415,
        "unsupported_media_type",
    ),
    "truncated_jpeg_half": (JPEG[: len(JPEG) // 2], 422, "corrupt_image"),
    "truncated_jpeg_end": (JPEG[:-2], 422, "corrupt_image"),
    "truncated_jpeg_header": (JPEG[:300], 422, "corrupt_image"),
    "truncated_png_half": (PNG[: len(PNG) // 2], 422, "corrupt_image"),
    "truncated_png_end": (PNG[:-12], 422, "corrupt_image"),
    "truncated_gif": (gif_bytes()[:600], 422, "corrupt_image"),
    "truncated_webp": (webp_bytes()[:500], 422, "corrupt_image"),
    "jpeg_magic_png_body": (b"\xff\xd8\xff" + PNG[3:], 422, "corrupt_image"),
    "png_bomb": (png_bomb(40_000, 40_000), 413, "too_many_pixels"),
    "png_wide_bomb": (png_bomb(200_000, 64), 413, "too_many_pixels"),
    "tiny": (edits.png(edits.load_rgb(str(PHOTO))[:4, :4].copy()), 422, "corrupt_image"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.one_database
def test_bad_files_get_a_precise_error_and_change_nothing(
    client: TestClient, api: Api, case: str
) -> None:
    data, status, code = BAD_FILES[case]
    before = client.get("/readyz").json()["index"]
    for response in (api.check(data), api.register(data, "upload.jpg")):
        assert response.status_code == status, (case, response.text)
        body = response.json()
        assert body["error"] == code
        assert body["detail"]
    assert client.get("/readyz").json()["index"] == before


@pytest.fixture
def small_limit_client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    with TestClient(create_app(limited)) as test_client:
        yield test_client


def test_upload_over_the_size_limit_is_413(
    small_limit_client: TestClient, api_keys: dict[str, str]
) -> None:
    big = b"\xff\xd8\xff" + b"\x00" * (200 * 1024)
    for path in ("/check", "/register"):
        response = small_limit_client.post(
            path,
            files={"file": ("big.jpg", big)},
            data={"category": "ncii"},
            headers=bearer(api_keys["admin"]),
        )
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "upload_too_large"

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the limit must hold while the stream is read.
        boundary = b"--b0undary\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        for _ in range(100):
            yield b"\x00" * 4096

    response = small_limit_client.post(
        "/check",
        content=chunks(),
        headers={
            **bearer(api_keys["admin"]),
            "Content-Type": "multipart/form-data; boundary=b0undary",
        },
    )
    assert response.status_code == 413
    assert response.json()["error"] == "upload_too_large"


def test_unknown_category(client: TestClient, api_keys: dict[str, str]) -> None:
    staff = bearer(api_keys["trust_safety"])
    form = client.post(
        "/register", files={"file": ("p.jpg", JPEG)}, data={"category": "spam"}, headers=staff
    )
    assert form.status_code == 422
    assert form.json()["error"] == "invalid_category"
    missing = client.post("/register", files={"file": ("p.jpg", JPEG)}, headers=staff)
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_category"
    as_json = client.post(
        "/register", json={"hashes": {"sha256": ["a" * 64]}, "category": "x"}, headers=staff
    )
    assert as_json.status_code == 422
    assert as_json.json()["error"] == "invalid_category"


@pytest.mark.parametrize(
    "hashes",
    [
        {"pdq": ["abc"]},
        {"pdq": ["z" * 64]},
        {"pdq": ["0" * 63]},
        {"pdq": ["0" * 65]},
        {"phash": ["0" * 64]},
        {"sha256": ["0" * 16]},
        {"md5": ["0" * 32]},
        {"pdq": [12345]},
        {"pdq": "0" * 64},
        {},
    ],
)
def test_malformed_hashes(client: TestClient, api_keys: dict[str, str], hashes: object) -> None:
    for path, key, extra in (
        ("/register", "trust_safety", {"category": "ncii"}),
        ("/check/hashes", "platform", {}),
    ):
        response = client.post(
            path, json={"hashes": hashes, **extra}, headers=bearer(api_keys[key])
        )
        assert response.status_code == 422, (path, hashes, response.text)
        assert response.json()["error"] == "invalid_hash"
    assert client.get("/readyz").json()["index"] == {"pdq": 0, "phash": 0, "sha256": 0}


def test_too_many_hashes_is_413(api: Api) -> None:
    hashes = {"sha256": [f"{i:064x}" for i in range(300)]}
    response = api.check_hashes({"hashes": hashes})
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_hashes"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", b"hello", 415, "unsupported_content_type"),
        ("application/json", b"{not json", 422, "invalid_request"),
        ("application/json", b"[]", 422, "invalid_request"),
        ("application/x-www-form-urlencoded", b"category=ncii", 415, "unsupported_content_type"),
        ("multipart/form-data; boundary=x", b"--x--\r\n", 422, "invalid_request"),
    ],
)
def test_register_wrong_body_types(
    client: TestClient,
    api_keys: dict[str, str],
    content_type: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    response = client.post(
        "/register",
        content=body,
        headers={**bearer(api_keys["trust_safety"]), "Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_check_without_file_is_422(client: TestClient, api_keys: dict[str, str]) -> None:
    response = client.post("/check", data={"upload_ref": "x"}, headers=bearer(api_keys["platform"]))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_multipart_with_many_parts_is_refused(client: TestClient, api_keys: dict[str, str]) -> None:
    files = [("file", (f"f{i}.jpg", JPEG)) for i in range(3)]
    response = client.post(
        "/register",
        files=files,
        data={"category": "ncii"},
        headers=bearer(api_keys["trust_safety"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_multipart"


def test_unknown_item_and_bad_ids(client: TestClient, api_keys: dict[str, str]) -> None:
    staff = bearer(api_keys["trust_safety"])
    assert client.get("/items/999", headers=staff).json()["error"] == "item_not_found"
    assert client.get("/items/999", headers=staff).status_code == 404
    deleted = client.delete("/items/999?reason=x", headers=staff)
    assert (deleted.status_code, deleted.json()["error"]) == (404, "item_not_found")
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        response = client.get(f"/items/{bad}", headers=staff)
        assert response.status_code == 422, bad
        assert response.json()["error"] == "invalid_request"
    no_reason = client.delete("/items/1", headers=staff)
    assert (no_reason.status_code, no_reason.json()["error"]) == (422, "invalid_request")


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_media_is_never_stored(api: Api, settings: Settings, tmp_path: Path) -> None:
    """After register and check, no byte run of the media is in the database or on disk."""
    import sqlalchemy as sa

    from app import db

    media = PHOTOS[7].read_bytes()
    upload = edits.jpeg(edits.load_rgb(str(PHOTOS[7])), 70)
    assert api.register(media, "p").status_code == 201
    assert api.check(upload, "u").json()["decision"] == "block"
    probes = [
        blob[i : i + 32]
        for blob in (media, upload)
        for i in range(1000, len(blob) - 32, len(blob) // 8)
    ]
    engine = db.make_engine(settings)
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                for value in row:
                    raw = (
                        bytes(value)
                        if isinstance(value, bytes | memoryview)
                        else str(value).encode()
                    )
                    assert not any(p in raw for p in probes), table
    engine.dispose()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(p in content for p in probes), path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.one_database
def test_error_details_speak_the_services_terms(api: Api, case: str) -> None:
    """No library object, address or limit of its own in an answer: the problem
    in the service's words, and the service's configured limits."""
    data, _, code = BAD_FILES[case]
    response = api.check(data, "upload")
    detail = response.json()["detail"]
    for leak in ("object at", " 0x", "BytesIO", "PIL", "Pillow", "178956970", "cv2", "Traceback"):
        assert leak not in detail, (case, detail)
    if code == "too_many_pixels":
        assert str(Settings().max_image_pixels) in detail, detail


def test_readiness_does_not_repeat_the_drivers_message(tmp_path: Path) -> None:
    unreachable = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://secret-user@127.0.0.1:9/x"
    )
    with TestClient(create_app(unreachable)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "error": "database_unavailable",
        "detail": "the database does not answer",
    }
