"""Reading the `temperatures` table by increasing id, one page per query.

Every query ends its transaction (commit): under MySQL's repeatable-read isolation a transaction
that stays open keeps seeing the same snapshot and would never see the generator's new rows.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from .config import ConfigError
from .program import FatalError

PAGE_QUERY = text("SELECT id, station_id, date, degrees FROM temperatures "
                  "WHERE id > :after_id ORDER BY id LIMIT :page_size")

COLUMNS = "id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, station_id TEXT, date DATE, degrees DOUBLE"
# A server that is down, restarting or dropped the connection: worth retrying. (mysql-connector
# reports a refused connection as an InterfaceError, a lost one as an OperationalError.)
UNAVAILABLE = (OperationalError, InterfaceError)
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
    FatalError that says what is wrong and what to do."""
    try:
        yield
    except DBAPIError as error:
        advice = ADVICE.get(getattr(error.orig, "errno", None))
        if advice is None:
            raise
        message = str(error.orig).split(": ", 1)[-1]  # without the "1054 (42S22)" prefix
        raise FatalError(f"{message}; {advice}") from None


@dataclass(frozen=True)
class Row:
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
    rows = [Row(id, station_id, str(date), float(degrees)) for id, station_id, date, degrees in result]
    connection.commit()
    return rows
