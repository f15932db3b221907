"""Reading the `temperatures` table by increasing id, one page per query.

Every query ends its transaction (commit): under MySQL's repeatable-read isolation a transaction
that stays open keeps seeing the same snapshot and would never see the generator's new rows.
While the producer works through a backlog, PageReader reads the next page in the background as
the current one is sent.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from sqlalchemy import Connection, Engine, text

from weather.common.database import fatal_if_unusable

# The date as text from the server: a tenth of a page's reading time otherwise goes to a date object
# and back to a string.
PAGE_QUERY = text("SELECT id, station_id, DATE_FORMAT(date, '%Y-%m-%d'), degrees FROM temperatures "
                  "WHERE id > :after_id ORDER BY id LIMIT :page_size")


class Row(NamedTuple):  # a tuple: cheaper to build than a dataclass, thousands per page
    id: int
    station_id: str
    date: str  # "YYYY-MM-DD"
    degrees: float


def read_page(connection: Connection, after_id: int, page_size: int) -> list[Row]:
    """Up to page_size rows with id > after_id, in id order; the read transaction is committed."""
    result = connection.execute(PAGE_QUERY, {"after_id": after_id, "page_size": page_size})
    rows = [Row(id, station_id, date, float(degrees)) for id, station_id, date, degrees in result]
    connection.commit()
    return rows


class PageReader:
    """Pages of the table for the producer; after a full page (a backlog), the next one is read in a
    background thread while the caller sends this one, and handed over if the caller continues from
    its end (it does unless it held rows back at a gap)."""

    def __init__(self, engine: Engine, page_size: int) -> None:
        self.engine = engine
        self.page_size = page_size
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-reader")
        self._ahead: tuple[int, Future] | None = None  # (after_id, the read of the page after it)

    def read(self, after_id: int) -> list[Row]:
        """Up to page_size rows with id > after_id, in id order. Raises what read_page raises."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after_id:
            rows = ahead[1].result()
        else:
            rows = self._read(after_id)
        if len(rows) == self.page_size:
            self._ahead = rows[-1].id, self._reader.submit(self._read, rows[-1].id)
        return rows

    def _read(self, after_id: int) -> list[Row]:
        with fatal_if_unusable(), self.engine.connect() as connection:  # pooled; replaced after a restart
            return read_page(connection, after_id, self.page_size)

    def close(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)
