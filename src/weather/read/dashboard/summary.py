"""What the page shows of the committed rows, kept up to date as rows are added: per-station totals and
the readings of the chart's days. Neither grows with the pipeline's age: the totals are a few numbers
per station, and only the readings of the last CHART_DAYS (plus the days a 7-day mean looks back) are
kept, so a refresh costs the new rows only.

One Summary per partition (a partition started afresh is summed up anew); summarize() merges them.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from weather.common import batches

CHART_DAYS = 365  # the chart shows the last year of committed days; the station table covers all
MEAN_DAYS = 7  # the chart's lines: each station's mean over the 7 days up to each day
KEPT_DAYS = CHART_DAYS + MEAN_DAYS - 1  # the first day's mean looks 6 days further back


def days_before(date: str, days: int) -> str:
    return (datetime.date.fromisoformat(date) - datetime.timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class StationTotals:
    rows: int
    total: float
    low: float
    high: float
    first_date: str
    last_date: str

    def __add__(self, other: "StationTotals") -> "StationTotals":
        return StationTotals(self.rows + other.rows, self.total + other.total, min(self.low, other.low),
                             max(self.high, other.high), min(self.first_date, other.first_date),
                             max(self.last_date, other.last_date))


class Summary:
    """The committed rows of one partition, summed up."""

    def __init__(self) -> None:
        self.rows = 0
        self.stations: dict[str, StationTotals] = {}
        self.recent = batches.SCHEMA.empty_table()  # the readings of the last KEPT_DAYS up to last_date
        self.last_date: str | None = None

    def add(self, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        self.rows += rows.num_rows
        grouped = rows.group_by("station_id").aggregate(
            [("degrees", "count"), ("degrees", "sum"), ("degrees", "min"), ("degrees", "max"), ("date", "min"),
             ("date", "max")])
        for row in grouped.to_pylist():
            added = StationTotals(row["degrees_count"], row["degrees_sum"], row["degrees_min"], row["degrees_max"],
                                  row["date_min"], row["date_max"])
            known = self.stations.get(row["station_id"])
            self.stations[row["station_id"]] = known + added if known else added
        self.last_date = max(self.last_date or "", pc.max(rows["date"]).as_py())
        # This partition's last day is at most the chart's, so what it drops is before the chart's days too.
        kept = pa.concat_tables([self.recent, rows.select(batches.SCHEMA.names)])
        self.recent = kept.filter(pc.greater_equal(kept["date"], days_before(self.last_date, KEPT_DAYS - 1)))
        self.recent = self.recent.combine_chunks()


def summarize(summaries: Iterable[Summary]) -> tuple[list[dict], dict]:
    """The station table's rows and the chart's series, from every partition's summary."""
    summaries = list(summaries)
    totals: dict[str, StationTotals] = {}
    for summary in summaries:
        for station, added in summary.stations.items():
            totals[station] = totals[station] + added if station in totals else added
    stations = [{"station_id": station, "rows": t.rows, "first_date": t.first_date, "last_date": t.last_date,
                 "mean": round(t.total / t.rows, 2), "min": round(t.low, 2), "max": round(t.high, 2)}
                for station, t in sorted(totals.items())]
    return stations, chart(summaries, sorted(totals))


def chart(summaries: list[Summary], stations: list[str]) -> dict:
    """Per station, its reading of each of the last CHART_DAYS days that has one (`series`: the day's mean
    if it has several, null on a day it has none) and the mean of those over the MEAN_DAYS days up to each
    day (`rolling_mean`)."""
    found = {"days": CHART_DAYS, "mean_days": MEAN_DAYS, "dates": [], "series": {s: [] for s in stations},
             "rolling_mean": {s: [] for s in stations}}
    last_dates = [summary.last_date for summary in summaries if summary.last_date]
    if not last_dates:
        return found
    last = max(last_dates)
    recent = pa.concat_tables([summary.recent for summary in summaries])
    recent = recent.filter(pc.greater_equal(recent["date"], days_before(last, KEPT_DAYS - 1)))
    daily: dict[str, dict[str, float]] = {station: {} for station in stations}
    per_day = recent.group_by(["station_id", "date"]).aggregate([("degrees", "mean")])
    for station, date, degrees in zip(*(per_day[name].to_pylist() for name in ("station_id", "date", "degrees_mean"))):
        daily[station][date] = degrees
    first = days_before(last, CHART_DAYS - 1)
    found["dates"] = dates = sorted({date for days in daily.values() for date in days if date >= first})
    windows = [[days_before(date, back) for back in range(MEAN_DAYS)] for date in dates]
    for station, days in daily.items():
        found["series"][station] = [_round(days.get(date)) for date in dates]
        means = []
        for window in windows:
            values = [days[day] for day in window if day in days]
            means.append(_round(sum(values) / len(values)) if values else None)
        found["rolling_mean"][station] = means
    return found


def _round(degrees: float | None) -> float | None:
    return None if degrees is None else round(degrees, 2)
