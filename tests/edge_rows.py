"""Rows with every value the producer's two ways of sending must encode alike (tests/unit/test_fastencode.py,
test_delivery_batches.py, tests/integration/test_batches_kafka.py)."""
from __future__ import annotations

import random
import struct

NAN_WITH_PAYLOAD = struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]
DEGREES = [-0.0, 0.0, float("nan"), NAN_WITH_PAYLOAD, float("inf"), -float("inf"), 5e-324, 1e308, -12.25]
STATIONS = ["", "S", "StationA", "é" * 300, "日本語の観測所", "x" * 200] + [f"USW{n:08d}" for n in range(20)]
DATES = ["", "2024-01-01", "d" * 130]


def edge_rows(count: int, seed: int = 19) -> list[tuple]:
    """Rows as the cursor gives them, (id, station_id, date, degrees), mixing every edge value, ids from 1
    up and beyond 2**53 (and the largest 64-bit id)."""
    rng = random.Random(seed)
    ids = sorted({rng.choice([n, n + 2**53, 2**63 - n]) for n in range(1, count + 1)})
    return [(row_id, rng.choice(STATIONS), rng.choice(DATES), rng.choice(DEGREES + [rng.uniform(-60, 60)]))
            for row_id in ids]
