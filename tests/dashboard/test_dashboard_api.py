"""/api/state against the real stack: its figures are the reader's, MySQL's and Kafka's."""
from __future__ import annotations

import datetime
from collections import Counter

from dashboard_world import PARTITIONS, api_state, closed_port, settle, start_dashboard
from weather.common import batches, checkpoint
from weather.common.storage import open_storage
from weather.read.dashboard.state import WAITING
from world import STATIONS, wait_for


def test_the_figures_equal_the_readers_and_the_servers(live):
    saved = live.settle()
    state = api_state(live.url)
    table = live.committed()
    ends = live.world.end_offsets()

    assert state["errors"] == []
    assert state["totals"]["committed_rows"] == table.num_rows == len(live.world.table_rows())
    assert state["totals"]["mysql_rows"] == len(live.world.table_rows())
    assert {s["station_id"]: s["rows"] for s in state["stations"]} == Counter(table["station_id"].to_pylist())
    first = {s["station_id"]: s["first_date"] for s in state["stations"]}
    assert set(first.values()) == {"2000-01-01"}  # the generator's first day, for every station
    for row in state["partitions"]:
        p = row["partition"]
        assert (row["batch_id"], row["offset"]) == (saved[p].batch_id, saved[p].offset)
        assert row["log_end_offset"] == ends[p] and row["lag_messages"] == 0 and row["lag_seconds"] == 0
        assert row["status"] == "committed" and row["message"] == ""
        assert row["rows"] == saved[p].offset  # one row per message, each committed once
    assert sorted(state["chart"]["series"]) == sorted(set(table["station_id"].to_pylist()))


def test_empty_state_waits_for_the_first_committed_batch(world):
    _, url = start_dashboard(world)
    state = api_state(url)
    assert [row["status"] for row in state["partitions"]] == ["waiting"] * len(PARTITIONS)
    assert {row["message"] for row in state["partitions"]} == {WAITING}
    assert state["totals"] == {"mysql_rows": 0, "committed_rows": 0, "rows_per_second": None}
    assert [(e["server"], "does not exist yet" in e["message"]) for e in state["errors"]] == [("Kafka", True)]
    assert state["stations"] == [] and state["chart"]["dates"] == []


def test_unreachable_servers_are_named_and_the_rest_still_shows(world):
    # A checkpoint is there (so HDFS must be read), but every server is a closed port.
    checkpoint.save(str(world.checkpoint_dir), 0, checkpoint.Checkpoint(batch_id=2, offset=30))
    kafka, hdfs, mysql = closed_port(), closed_port(), closed_port()
    dashboard, url = start_dashboard(world, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka}",
                                     DATA_URL=f"hdfs://127.0.0.1:{hdfs}/data",
                                     DB_URL=f"mysql+mysqlconnector://root:abc@127.0.0.1:{mysql}/CS544")
    state = api_state(url)
    assert {e["server"]: e["address"] for e in state["errors"]} == {
        "HDFS": f"127.0.0.1:{hdfs}", "Kafka": f"127.0.0.1:{kafka}", "MySQL": f"127.0.0.1:{mysql}/CS544"}
    assert all(e["message"].startswith("not reachable (") for e in state["errors"]), state["errors"]
    first = state["partitions"][0]
    assert (first["batch_id"], first["offset"], first["log_end_offset"]) == (2, 30, None)
    assert "storage unreachable" in first["message"]
    assert state["totals"]["mysql_rows"] is None
    assert dashboard.process.poll() is None  # still serving


def daily_readings(first_day: int, days: int) -> list[tuple[str, str, float]]:
    start = datetime.date(2001, 1, 1)
    return [(station, (start + datetime.timedelta(days=day)).isoformat(), day + i / 10)
            for day in range(first_day, first_day + days) for i, station in enumerate(STATIONS)]


def test_a_compacted_partition_is_read_from_the_table(world):
    """The compactor folded every committed batch into the table and deleted their raw files (raw retention):
    the dashboard still shows every committed row, read from the table's part and the raw tail after it."""
    world.start("producer.py")
    wait_for(lambda: world.partitions() == list(PARTITIONS), 60, "the topic")
    for partition in PARTITIONS:
        world.start("consumer.py", str(partition), CONSUMER_MAX_POLL_RECORDS="10")
    world.insert(daily_readings(0, 40))
    saved = settle(world)
    compacted = world.run("compactor.py", "--once", timeout=180, RAW_RETENTION_SECONDS="0")
    assert compacted.returncode == 0, compacted.stderr
    storage = open_storage(world.data_url)
    # Only each checkpoint's own batch is left of the raw files the table now holds.
    assert {p: batches.batch_ids(storage, p) for p in PARTITIONS} == {p: [saved[p].batch_id] for p in PARTITIONS}
    assert all(saved[p].batch_id > 0 for p in PARTITIONS)
    world.insert(daily_readings(40, 10))  # a raw tail after the table's part
    saved = settle(world)

    _, url = start_dashboard(world)
    state = api_state(url)
    rows = world.table_rows()
    assert state["errors"] == [] and [row["message"] for row in state["partitions"]] == [""] * len(PARTITIONS)
    assert state["totals"]["committed_rows"] == len(rows) == 500
    assert {s["station_id"]: s["rows"] for s in state["stations"]} == Counter(station for _, station, _, _ in rows)
    assert [(row["rows"], row["batch_id"]) for row in state["partitions"]] == [
        (saved[p].offset, saved[p].batch_id) for p in PARTITIONS]
    chart = state["chart"]
    assert chart["dates"][-1] == "2001-02-19" and len(chart["dates"]) == 50
    # StationA reads the day's number: its last 7-day mean is the mean of days 43..49.
    assert chart["series"]["StationA"][-1] == 49.0 and chart["rolling_mean"]["StationA"][-1] == 46.0
