"""The gap guard: a page is sent up to an id that may still commit, and a gap is given up after the grace."""
import logging

from weather.produce.gaps import GapGuard


def rows(*ids):
    return [(id, "StationA", "2024-01-01", 1.5) for id in ids]  # as the cursor gives them


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def ids(page):
    return [row[0] for row in page]


def test_contiguous_rows_pass_at_once():
    assert ids(GapGuard(5, logging.getLogger("t"), Clock()).ready(0, rows(1, 2, 3))) == [1, 2, 3]


def test_a_gap_holds_back_the_rows_above_it_until_the_missing_id_commits():
    clock = Clock()
    guard = GapGuard(5, logging.getLogger("t"), clock)
    assert ids(guard.ready(0, rows(1, 2, 4, 5))) == [1, 2]
    clock.now = 4.9
    assert ids(guard.ready(2, rows(4, 5, 6))) == []
    assert ids(guard.ready(2, rows(3, 4, 5, 6))) == [3, 4, 5, 6]  # the late commit is sent, in order


def test_a_gap_is_given_up_after_the_grace_period_and_said_once(caplog):
    clock = Clock()
    guard = GapGuard(5, logging.getLogger("t"), clock)
    assert ids(guard.ready(0, rows(1, 4))) == [1]
    clock.now = 3
    assert ids(guard.ready(1, rows(4, 7))) == []
    clock.now = 5
    # ids 2..3 have been missing since id 4 was seen (t=0); 5..6 only since id 7 was seen (t=3).
    assert ids(guard.ready(1, rows(4, 7))) == [4]
    clock.now = 8
    assert ids(guard.ready(4, rows(7))) == [7]
    given_up = [r.getMessage() for r in caplog.records if "did not appear" in r.getMessage()]
    assert len(given_up) == 2 and given_up[0].startswith("id 2..3 ") and given_up[1].startswith("id 5..6 ")


def test_a_first_id_above_one_is_a_gap_too():
    clock = Clock()
    guard = GapGuard(1, logging.getLogger("t"), clock)
    assert guard.ready(0, rows(3)) == []
    clock.now = 1
    assert ids(guard.ready(0, rows(3))) == [3]


def test_no_grace_passes_gaps_at_once():
    assert ids(GapGuard(0, logging.getLogger("t"), Clock()).ready(0, rows(2, 5))) == [2, 5]
