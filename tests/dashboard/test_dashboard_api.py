"""/api/state against the real stack: its figures are the reader's, MySQL's and Kafka's."""
from __future__ import annotations

from collections import Counter

from dashboard_world import PARTITIONS, api_state, closed_port, start_dashboard
from weather.common import checkpoint
from weather.read.dashboard.state import WAITING


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
