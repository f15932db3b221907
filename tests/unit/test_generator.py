"""The generator's readings: the reference's sequence, to the last digit (no database needed)."""
import ast
import subprocess
import sys
from pathlib import Path

from world import SPEC_FIRST_DAY

SRC = Path(__file__).resolve().parents[2] / "src"


def first_readings(count):
    """The first readings of a freshly imported generator (a new process: the seed is set at import)."""
    code = ("import itertools, weather_generator; print([(s, str(d), g) for s, d, g in "
            f"itertools.islice(weather_generator.readings(), {count})])")
    result = subprocess.run([sys.executable, "-c", code], cwd=SRC, capture_output=True, text=True, check=True)
    return ast.literal_eval(result.stdout)


def test_the_first_day_equals_the_specifications_table():
    assert first_readings(10) == SPEC_FIRST_DAY


def test_days_follow_in_station_order_with_fixed_stations_i_and_j():
    readings = first_readings(10 * 15)
    assert [station for station, _, _ in readings[:10]] * 15 == [station for station, _, _ in readings]
    assert readings[-1][1] == "2000-01-15"
    assert [degrees for station, _, degrees in readings if station == "StationJ"] == [d % 10 for d in range(15)]
    assert {degrees for station, _, degrees in readings if station == "StationI"} == {5.0}
