"""The heap tuning that spares every check its page faults (app/memory.py)."""

from __future__ import annotations

import subprocess
import sys

from app.memory import keep_heap

# Three buffers of 1 MB, written and freed, fifty times over, as a check's
# decode, canvas and PDQ copies are; prints the page faults per round.
ROUNDS = """
import resource, sys
import numpy as np
from app.memory import keep_heap
if sys.argv[1] == "tuned":
    assert keep_heap()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def check():
    buffers = [np.ones(1 << 20, np.uint8) for _ in range(3)]
    del buffers
check()
before = faults()
for _ in range(50):
    check()
print((faults() - before) / 50)
"""


def faults_per_round(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def test_freed_buffers_are_reused_without_page_faults() -> None:
    assert keep_heap()  # this machine's C library is glibc
    # glibc's defaults give the freed megabytes back to the kernel each round and
    # fault them in again (768 pages of 4 KB a round, less what stays mapped).
    assert faults_per_round("default") > 200
    assert faults_per_round("tuned") < 10
