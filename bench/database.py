"""The benchmark run's own database (CS544_bench_<run>): create, fill in bulk, read back in pages, drop."""
from __future__ import annotations

import itertools
import time

from sqlalchemy import text

from bench.common import Run
from stack.mariadb import TABLE_DDL
from weather.common import database
from weather.produce import source
from weather_generator import readings

INSERT = text("INSERT INTO temperatures (id, station_id, date, degrees) VALUES (:id, :station_id, :date, :degrees)")
LOAD_CHUNK = 10_000  # rows per multi-row INSERT: big enough to amortise round trips, small enough for max_allowed_packet


def create(run: Run) -> None:
    engine = database.connect(f"{run.db_server_url}/{run.db_query}")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE IF NOT EXISTS {run.database}"))
        connection.execute(text(f"USE {run.database}"))
        connection.execute(text(TABLE_DDL))
        connection.execute(text("TRUNCATE TABLE temperatures"))
        connection.commit()
    engine.dispose()


def drop(run: Run) -> None:
    engine = database.connect(f"{run.db_server_url}/{run.db_query}")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {run.database}"))
        connection.commit()
    engine.dispose()


def rows(count: int, first_id: int = 1):
    """`count` rows as the generator makes them (same stations, dates and degrees), with explicit ids."""
    for row_id, (station_id, date, degrees) in zip(itertools.count(first_id), itertools.islice(readings(), count)):
        yield {"id": row_id, "station_id": station_id, "date": date, "degrees": degrees}


def load(run: Run, count: int) -> float:
    """Fill the empty table with `count` generator rows in multi-row INSERTs; seconds taken."""
    engine = database.connect(run.db_url)
    started = time.monotonic()
    generated = rows(count)
    with engine.connect() as connection:
        while chunk := list(itertools.islice(generated, LOAD_CHUNK)):
            connection.execute(INSERT, chunk)
            connection.commit()
    engine.dispose()
    return time.monotonic() - started


def paged_select(run: Run, count: int, page_size: int) -> float:
    """Rows/s of reading the table with the producer's own page query, page after page, to the end."""
    engine = database.connect(run.db_url)
    started = time.monotonic()
    last_id, read = 0, 0
    with engine.connect() as connection:
        while page := source.read_page(connection, last_id, page_size):
            last_id = page[-1][source.ID]
            read += len(page)
    elapsed = time.monotonic() - started
    engine.dispose()
    if read != count:
        raise RuntimeError(f"paged SELECT read {read} rows, expected {count}")
    return count / elapsed
