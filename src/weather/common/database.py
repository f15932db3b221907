"""The database: connecting to it, and telling an error worth a retry from one no retry can fix.

Used by every program that reads or writes the `temperatures` table: the generator, the producer, the
verifier and the dashboard.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from weather.common.config import ConfigError
from weather.common.errors import Unrecoverable

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


def connect(db_url: str) -> Engine:
    # pool_pre_ping: after a database restart, a pooled connection is replaced instead of failing once.
    try:
        return create_engine(db_url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as error:
        raise ConfigError(f"DB_URL is not a usable SQLAlchemy URL ({error}); "
                          "e.g. mysql+mysqlconnector://root:abc@host:3306/CS544") from None
