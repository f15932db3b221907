"""Reading the `temperatures` table by increasing id, one page per query.

Every query ends its transaction (commit): under MySQL's repeatable-read isolation a transaction
that stays open keeps seeing the same snapshot and would never see the generator's new rows.
While the producer works through a backlog, PageReader reads the next page in the background as
the current one is sent.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from weather.common.config import ConfigError
from weather.common.errors import Unrecoverable

# The date as text from the server: a tenth of a page's reading time otherwise goes to a date object
# and back to a string.
PAGE_QUERY = text("SELECT id, station_id, DATE_FORMAT(date, '%Y-%m-%d'), degrees FROM temperatures "
                  "WHERE id > :after_id ORDER BY id LIMIT :page_size")

COLUMNS = "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, station_id TEXT, date DATE, degrees DOUBLE"


class DatabaseUnavailable(Exception):
    """The server cannot be reached, or the connection was lost: worth retrying."""


class UnusableDatabase(Unrecoverable):
    """No such database, table or column, or access denied: no retry can fix it; the message says what to do."""


# A server that is down, restarting or dropped the connection. mysql-connector reports it as an
# InterfaceError or OperationalError in pure Python, but as a DatabaseError (client error numbers
# 2000-2999) from its C extension: fatal_if_unusable() turns those into DatabaseUnavailable.
UNAVAILABLE = (OperationalError, InterfaceError, DatabaseUnavailable)
CLIENT_ERRORS = range(2000, 3000)
try:  # the C extension's own error, which its commit() lets out unconverted when the connection is lost
    from _mysql_connector import MySQLInterfaceError
    RAW_DRIVER_ERRORS: tuple[type[Exception], ...] = (MySQLInterfaceError,)
except ImportError:
    RAW_DRIVER_ERRORS = ()
# MySQL error numbers no retry can fix, with what to do about them.
ADVICE = {
    1044: "check the user and password in DB_URL",
    1045: "check the user and password in DB_URL",
    1049: "create the database (docker/mysql/init.sql does) or fix the database name in DB_URL",
    1146: f"create it: CREATE TABLE temperatures ({COLUMNS}), as docker/mysql/init.sql does",
    1054: f"the table needs the columns of CREATE TABLE temperatures ({COLUMNS}); recreate it",
}


@contextmanager
def fatal_if_unusable():
    """Turn an error that no retry can fix (no such database, table or column; access denied) into a
    UnusableDatabase that says what is wrong and what to do, and a lost or refused connection into
    DatabaseUnavailable."""
    try:
        yield
    except RAW_DRIVER_ERRORS as error:
        raise DatabaseUnavailable(str(error)) from None
    except DBAPIError as error:
        errno = getattr(error.orig, "errno", None)
        if errno in CLIENT_ERRORS and not isinstance(error, UNAVAILABLE):
            raise DatabaseUnavailable(str(error.orig)) from None
        advice = ADVICE.get(errno)
        if advice is None:
            raise
        message = str(error.orig).split(": ", 1)[-1]  # without the "1054 (42S22)" prefix
        raise UnusableDatabase(f"{message}; {advice}") from None


class Row(NamedTuple):  # a tuple: cheaper to build than a dataclass, thousands per page
    id: int
    station_id: str
    date: str  # "YYYY-MM-DD"
    degrees: float


def connect(db_url: str) -> Engine:
    # pool_pre_ping: after a database restart, a pooled connection is replaced instead of failing once.
    try:
        return create_engine(db_url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigError(f"DB_URL is not a usable SQLAlchemy URL ({error}); "
                          "e.g. mysql+mysqlconnector://root:abc@host:3306/CS544") from None


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
