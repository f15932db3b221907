"""Not passing an id that may still commit.

Auto-increment ids are handed out when a row is inserted, not when its transaction commits, so
id 7 can become visible after id 8 has been read. A producer that only asks for `id > last_id`
would skip 7 forever. So the producer sends a page only up to its first gap and waits for the
missing ids; ids can also be missing for good (a rolled-back insert, InnoDB's auto-increment lock
modes), so after a bounded grace period it gives the gap up, says so once, and goes on.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

from weather.produce.source import ID


class GapGuard:
    def __init__(self, grace: float, log: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self.log = log
        self.clock = clock
        # (highest id seen, when it was first seen), increasing in both: an id below one of these
        # that is still missing has been missing since that moment.
        self.horizons: list[tuple[int, float]] = []

    def ready(self, last_id: int, rows: Sequence) -> list:
        """The prefix of rows (ids > last_id, increasing) that may be sent now: up to the first gap
        whose grace period is not over."""
        now = self.clock()
        if rows and (not self.horizons or rows[-1][ID] > self.horizons[-1][0]):
            self.horizons.append((rows[-1][ID], now))
        self.horizons = [(seen, since) for seen, since in self.horizons if seen > last_id]
        if not rows or rows[-1][ID] - last_id == len(rows):  # ids increase from last_id + 1: no gap at all
            return list(rows)
        expected = last_id + 1
        for index, row in enumerate(rows):
            row_id = row[ID]
            if row_id > expected:
                since = next(since for seen, since in self.horizons if seen >= row_id)
                if now - since < self.grace:
                    return list(rows[:index])
                missing = f"{expected}" if row_id == expected + 1 else f"{expected}..{row_id - 1}"
                self.log.warning("id %s did not appear within %.1f s (rolled back, or its transaction is still "
                                 "open: PRODUCER_GAP_GRACE_SECONDS); passing it", missing, self.grace)
            expected = row_id + 1
        return list(rows)
