"""The verifier's pure parts: multiset comparison and offset coverage."""
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.checkpoint import Checkpoint
from weather.read.verify import BatchFacts, compare, coverage_errors

A1, A2, B1 = ("StationA", "2000-01-01", 1.5), ("StationA", "2000-01-02", 2.5), ("StationB", "2000-01-01", 0.0)


def test_equal_multisets_pass_even_with_a_repeated_day():
    verdict = compare([A1, A2, A1, B1], [B1, A1, A2, A1])
    assert verdict.ok and (verdict.rows_expected, verdict.rows_found, verdict.missing, verdict.duplicated) == (4, 4, 0, 0)
    assert verdict.line().startswith("verify: OK: 4 rows expected")


def test_missing_duplicated_and_unexpected_rows_are_counted_apart():
    verdict = compare([A1, A2, B1], [A1, A1, A1, B1, ("StationZ", "2000-01-01", 9.0)])
    assert (verdict.missing, verdict.duplicated, verdict.unexpected) == (1, 2, 1)
    assert not verdict.ok
    assert "1 missing, 2 duplicated, 1 unexpected" in verdict.line() and "FAILED" in verdict.line()


def test_a_repeat_the_table_has_twice_is_missing_when_committed_once():
    verdict = compare([A1, A1], [A1])
    assert (verdict.missing, verdict.duplicated) == (1, 0)


def test_coverage_errors_alone_fail_the_verdict():
    assert not compare([A1], [A1], ["partition 0: gap"]).ok


def facts(*ranges, topic="t1"):
    return [BatchFacts(i, BatchInfo(OffsetRange(first, last), topic, dead), last - first + 1 - dead,
                       list(range(first, first + dead)) if dead else None)
            for i, (first, last, dead) in enumerate(ranges)]


def test_tiled_offsets_with_dead_letters_cover_exactly():
    assert coverage_errors(0, Checkpoint(2, 10), facts((0, 3, 0), (4, 6, 2), (7, 9, 0)), "t1", 10) == []
    assert coverage_errors(0, None, [], "t1", 10) == []


def test_gaps_overlaps_a_missing_batch_and_a_short_end_are_named():
    errors = coverage_errors(1, Checkpoint(2, 12), facts((0, 3, 0), (6, 8, 0), (7, 9, 0)), "t1", 12)
    assert any("batch 1: gap, offsets 4..5" in e for e in errors)
    assert any("batch 2: overlap, offsets 7..8" in e for e in errors)
    assert any("end at offset 9, the checkpoint says 11" in e for e in errors)
    missing = coverage_errors(1, Checkpoint(1, 4), [facts((0, 3, 0))[0], BatchFacts(1, None, 0)], "t1", 4)
    assert "partition 1 batch 1: committed but missing or unreadable" in missing


def test_rows_that_do_not_fill_the_offsets_and_lost_dead_letters_are_named():
    short = [BatchFacts(0, BatchInfo(OffsetRange(0, 4), "t1", 1), 3, [2])]
    assert any("3 rows, 1 dead letters and 0 dropped duplicates for 5 offsets" in e for e in coverage_errors(0, Checkpoint(0, 5), short,
                                                                                        "t1", 5))
    lost = [BatchFacts(0, BatchInfo(OffsetRange(0, 4), "t1", 1), 4, None)]
    assert any("none (missing)" in e for e in coverage_errors(0, Checkpoint(0, 5), lost, "t1", 5))


def test_another_incarnation_of_the_topic_is_named():
    errors = coverage_errors(0, Checkpoint(0, 8), facts((0, 7, 0), topic="old"), "new", 5)
    assert len(errors) == 2 and "beyond the log end 5" in errors[0] and "written from topic id old" in errors[1]


def test_dropped_duplicates_fill_their_offsets_and_are_reported_apart_from_committed_duplicates():
    with_duplicates = [BatchFacts(0, BatchInfo(OffsetRange(0, 4), "t1", dead_letters=1, duplicates=2), 2, [3])]
    assert coverage_errors(0, Checkpoint(0, 5), with_duplicates, "t1", 5) == []
    verdict = compare([A1], [A1, A1])
    verdict.kafka_duplicates = 2
    assert "1 duplicated" in verdict.line() and "2 duplicates in Kafka dropped by the consumers" in verdict.line()


def test_live_mode_leaves_rows_not_yet_committed_out_of_the_verdict():
    live = compare([A1, A2, B1], [A1], live=True)
    assert live.ok and live.missing == 0 and "live" in live.line()
    assert not compare([A1, A2], [A1, A1], live=True).ok
