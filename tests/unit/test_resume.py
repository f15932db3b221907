"""Which rows the topic already holds: the producer's partitioner and the skip rule."""
from kafka.cluster import ClusterMetadata
from kafka.partitioner import DefaultPartitioner

from weather.produce import resume
from weather.common import records
from world import STATIONS


def test_partition_for_is_kafkas_default_partitioner():
    cluster = ClusterMetadata()
    cluster.partitions_for_topic = lambda topic: {0, 1, 2, 3}
    cluster.available_partitions_for_topic = lambda topic: {0, 1, 2, 3}
    cluster.topics = lambda: {"t"}
    for station in STATIONS:
        key = station.encode()
        assert records.partition_for(key, 4) == DefaultPartitioner().partition("t", None, key, None, None, cluster)


def test_a_row_is_unsent_exactly_when_its_partition_holds_no_id_at_or_above_it():
    by_partition = {}
    for station in STATIONS:
        by_partition.setdefault(records.partition_for(station.encode(), 4), station)
    p, q = sorted(by_partition)[:2]
    rows = [(id, by_partition[p if id % 2 else q], "2024-01-01", 1.5) for id in range(1, 9)]
    tails = {0: 0, 1: 0, 2: 0, 3: 0} | {p: 5, q: 2}  # a page cut short: partition p got further than q
    assert [row[0] for row in resume.unsent(rows, tails)] == [4, 6, 7, 8]
    assert resume.unsent(rows[5:], tails) == rows[5:]  # past every tail: all of them
    assert resume.resume_point(tails) == 0


def test_the_row_id_header_is_found_among_others():
    assert records.row_id([("other", b"x"), ("row_id", b"42")]) == 42
    assert records.row_id([]) is None and records.row_id(None) is None
