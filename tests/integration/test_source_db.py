"""The producer's page reader (weather/produce/source.py) on the real database: the cursor's own tuples, one
connection kept across pages (and the read ahead), and a connection the server dropped replaced at the next
read."""
from __future__ import annotations

import pytest
import sqlalchemy

from weather.common import database
from weather.produce import source

ROWS = [("StationA", "2024-01-01", 21.5), ("StationB", "2024-02-29", -0.0), ("Zürich-日本", "1999-12-31", 1e308)]


def connection_ids(pipeline) -> set[int]:
    """The server's connections to the test's database."""
    with pipeline.server.connect() as connection:
        return set(connection.execute(sqlalchemy.text(
            "SELECT id FROM information_schema.processlist WHERE db = :db"), {"db": pipeline.database}).scalars())


def test_pages_are_the_cursors_tuples_read_on_one_kept_connection(pipeline):
    pipeline.insert(ROWS * 4)  # ids 1..12
    pipeline.engine.dispose()  # the fixture's own pooled connections gone: only the reader's count
    reader = source.PageReader(database.connect(pipeline.env["DB_URL"]), page_size=5)
    try:
        first = reader.read(0)
        assert first == [(row_id, *ROWS[(row_id - 1) % 3]) for row_id in range(1, 6)]
        assert all(type(row) is tuple for row in first)
        seen = connection_ids(pipeline)
        assert [row[0] for row in reader.read(5)] == [6, 7, 8, 9, 10]  # read ahead, handed over
        assert [row[0] for row in reader.read(7)] == [8, 9, 10, 11, 12]  # not the one read ahead: read again
        assert [row[0] for row in reader.read(12)] == []
        assert connection_ids(pipeline) == seen and len(seen) == 1
    finally:
        reader.close()


def test_a_connection_the_server_dropped_is_replaced_at_the_next_read(pipeline):
    pipeline.insert(ROWS)
    pipeline.engine.dispose()
    reader = source.PageReader(database.connect(pipeline.env["DB_URL"]), page_size=10)
    try:
        assert len(reader.read(0)) == 3
        (dropped,) = connection_ids(pipeline)
        with pipeline.server.connect() as connection:
            connection.execute(sqlalchemy.text(f"KILL {dropped}"))
        with pytest.raises(database.UNAVAILABLE):  # the read that finds it gone; the producer's retry reads again
            reader.read(0)
        assert len(reader.read(0)) == 3
        assert dropped not in connection_ids(pipeline)
    finally:
        reader.close()
