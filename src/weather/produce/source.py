"""Reading the `temperatures` table by increasing id, one page per query.

Every query ends its transaction (commit): under MySQL's repeatable-read isolation a transaction
that stays open keeps seeing the same snapshot and would never see the generator's new rows.

A row is the driver's own tuple (id, station_id, date as "YYYY-MM-DD", degrees), taken straight from
the DB-API cursor: a Python object per row on top (SQLAlchemy's Row, a named tuple) cost more than
building the row's Kafka record (issue 19). The reader keeps one connection for its life instead of
checking one out of the pool per page (each checkout pings the server first); a connection that failed
is dropped, and the next read opens a new one. While the producer works through a backlog, PageReader
reads the next page in the background as the current one is sent.
"""
from __future__ import annotations

from concurrent import futures

from sqlalchemy import Connection, Engine

from weather.common.database import fatal_if_unusable

ID, STATION_ID = 0, 1  # a row's fields by position: (id, station_id, date, degrees)
# The date as text from the server: a tenth of a page's reading time otherwise goes to a date object
# and back to a string. The driver substitutes the %s parameters only, so the date format's % stay as they are.
PAGE_QUERY = ("SELECT id, station_id, DATE_FORMAT(date, '%Y-%m-%d'), degrees FROM temperatures "
              "WHERE id > %s ORDER BY id LIMIT %s")


def read_page(connection: Connection, after_id: int, page_size: int) -> list[tuple]:
    """Up to page_size rows with id > after_id, in id order; the read transaction is committed."""
    result = connection.exec_driver_sql(PAGE_QUERY, (after_id, page_size))
    rows = result.cursor.fetchall()  # the dialect's cursor is buffered: the driver's tuples, read already
    result.close()
    connection.commit()
    return rows


class PageReader:
    """Pages of the table for the producer; after a full page (a backlog), the next one is read in a
    background thread while the caller sends this one, and handed over if the caller continues from
    its end (it does unless it held rows back at a gap)."""

    def __init__(self, engine: Engine, page_size: int) -> None:
        self.engine = engine
        self.page_size = page_size
        self._connection: Connection | None = None
        self._reader = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-reader")
        self._ahead: tuple[int, futures.Future] | None = None  # (after_id, the read of the page after it)

    def read(self, after_id: int) -> list[tuple]:
        """Up to page_size rows with id > after_id, in id order. Raises what read_page raises."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after_id:
            rows = ahead[1].result()
        else:
            if ahead is not None:  # one connection: the read ahead ends first (its page, or error, unwanted)
                futures.wait([ahead[1]])
            rows = self._read(after_id)
        if len(rows) == self.page_size:
            self._ahead = rows[-1][ID], self._reader.submit(self._read, rows[-1][ID])
        return rows

    def _read(self, after_id: int) -> list[tuple]:
        with fatal_if_unusable():
            if self._connection is None:
                self._connection = self.engine.connect()  # the pool's checkout pings it: replaced after a restart
            try:
                return read_page(self._connection, after_id, self.page_size)
            except Exception:
                connection, self._connection = self._connection, None
                connection.invalidate()  # not back into the pool: it may be the one the server dropped
                connection.close()
                raise

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
