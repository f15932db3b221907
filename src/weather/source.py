"""Reading the `temperatures` table by increasing id, one page per query.

Every query ends its transaction (commit): under MySQL's repeatable-read isolation a transaction
that stays open keeps seeing the same snapshot and would never see the generator's new rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from .config import ConfigError

PAGE_QUERY = text("SELECT id, station_id, date, degrees FROM temperatures "
                  "WHERE id > :after_id ORDER BY id LIMIT :page_size")


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
