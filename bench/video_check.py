"""One ``POST /check`` of a whole video, end to end in process: multipart upload,
spooling to the private temp file, keyframes, hashes, index search, item frame
comparison and the database writes.

Registers the file first (so the check also does the matching work of a hit),
then checks it ``--repeat`` times and prints the wall time of each.

    .venv/bin/python -m bench.video_check var/bench/video-speed-720p-*.mp4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from app import auth, db
from app.main import create_app
from app.services import keys
from app.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    data = args.video.read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            data_dir=Path(folder) / "var", database_url=f"sqlite:///{folder}/hashwall.db"
        )
        db.upgrade(settings)
        engine = db.make_engine(settings)
        with db.make_sessionmaker(engine)() as session:
            key = keys.create_key(session, "bench", [auth.Scope.ADMIN], "bench")
        engine.dispose()
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(settings)) as client:
            made = client.post(
                "/register",
                files={"file": (args.video.name, data)},
                data={"category": "other"},
                headers=headers,
            ).json()
            print(f"registered: {made['clip']['keyframes']} keyframes, {len(data) / 1e6:.1f} MB")
            walls = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                body = client.post(
                    "/check", files={"file": (args.video.name, data)}, headers=headers
                ).json()
                walls.append(time.perf_counter() - started)
                clip = body["clip"]
                print(
                    f"{body['decision']}: {walls[-1]:.2f} s wall, {clip['keyframes']} keyframes "
                    f"of {clip['frames_decoded']} frames decoded, {clip['duration_s']} s of video"
                )
            print(f"median {statistics.median(walls):.2f} s per check")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
