"""``POST /check`` of two versions of Hashwall, taking turns on the same machine.

The machine is shared and its speed moves by tens of percent within an hour, so a
change is judged by running the old and the new code side by side: each tree (a
checkout of this repository, e.g. made with ``git worktree add /tmp/old <commit>``)
gets its own ``hashwall serve`` on a fresh SQLite database with the same 25
registered photos, and rounds of checks alternate between them.

    .venv/bin/python -m bench.check_ab OLD_TREE NEW_TREE [--rounds 5] [--checks 200]
        [--workers 2] [--clients 2]

Both servers run on this checkout's virtual environment, with ``PYTHONPATH``
pointing at their tree.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

from bench.speed import (
    CHECK_EDITS,
    DEFAULT_PHOTOS,
    Upload,
    check_request,
    free_port,
    load,
    load_corpus,
    measured,
    q,
    stop,
    wait_ready,
)
from testkit.edits import EDITS, jpeg

CLI = "from app.cli import main; main()"


def start(tree: Path, data: str, workers: int, stack: ExitStack) -> tuple[int, str, str]:
    """``hashwall serve`` of ``tree``; returns its pid, URL and a check-and-register key."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "HASHWALL_DATA_DIR": data,
        "HASHWALL_DATABASE_URL": "",
        "HASHWALL_WORKERS": str(workers),
    }
    port = free_port()
    log = Path(data) / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tree,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack.callback(stop, proc)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, proc, log)
    made = subprocess.run(
        [sys.executable, "-c", CLI, "keys", "create", "--name", "ab", "--scopes", "check,register"],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.pid, base, made.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.check_ab", description=__doc__)
    parser.add_argument("trees", nargs=2, type=Path, help="the old and the new checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checks", type=int, default=200, help="checks a round and server")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    args = parser.parse_args(argv)

    photos = load_corpus(args.photos, 54)
    registered = photos[::2][:25]
    unregistered = [p for i, p in enumerate(photos) if i % 2 or i // 2 >= 25]
    uploads = [Upload(EDITS[e](p), True) for p in registered for e in CHECK_EDITS]
    uploads += [Upload(jpeg(p), False) for p in unregistered]
    order = list(range(len(uploads)))
    random.Random(0).shuffle(order)
    rows: dict[Path, list[tuple[float, float, float, float, str]]] = {t: [] for t in args.trees}
    with ExitStack() as stack:
        servers = []
        for tree in args.trees:
            data = stack.enter_context(tempfile.TemporaryDirectory(prefix="hashwall-ab-"))
            pid, base, key = start(tree, data, args.workers, stack)
            with httpx.Client(base_url=base, timeout=60) as http:
                for i, pixels in enumerate(registered):
                    http.post(
                        "/register",
                        files={"file": (f"item{i}.jpg", jpeg(pixels), "image/jpeg")},
                        data={"category": "ncii"},
                        headers={"Authorization": f"Bearer {key}"},
                    ).raise_for_status()
            send = check_request(uploads, order, key)
            load([base], args.clients, 30, send)  # warm-up
            servers.append((tree, pid, base, send))
        for _ in range(args.rounds):
            for tree, pid, base, send in servers:
                run = measured(str(tree), pid, base, args.clients, args.checks, send)
                if any(r.status != 200 for r in run.results):
                    raise SystemExit(f"{tree}: a check failed")
                rows[tree].append(
                    (
                        1000 * run.server_cpu / args.checks,
                        q(run.ms(), 50),
                        q(run.ms(), 99),
                        run.rps(),
                        run.shares(),
                    )
                )
    print(
        f"{args.rounds} rounds of {args.checks} checks from {args.clients} clients, "
        f"--workers {args.workers}, load average at the end {os.getloadavg()[0]:.2f}; "
        "medians over rounds [range]:",
        "",
        "| tree | server CPU ms/check | p50 ms | p99 ms | checks/s | rounds with one busy worker |",
        "|---|---:|---:|---:|---:|---:|",
        sep="\n",
    )
    for tree, values in rows.items():
        cpu, p50, p99, rps = (np.array([v[i] for v in values]) for i in range(4))
        lonely = sum(" / " not in v[4] for v in values) if args.workers > 1 else 0
        print(
            f"| {tree} | {np.median(cpu):.2f} [{cpu.min():.2f}-{cpu.max():.2f}] "
            f"| {np.median(p50):.2f} | {np.median(p99):.2f} "
            f"| {np.median(rps):.0f} [{rps.min():.0f}-{rps.max():.0f}] "
            f"| {lonely} of {len(values)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
