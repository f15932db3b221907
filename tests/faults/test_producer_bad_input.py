"""Bad input to the producer and the generator: one line saying what is wrong and what to do, non-zero exit."""
from __future__ import annotations

import pytest
import sqlalchemy

pytestmark = pytest.mark.faults


def one_line_error(result, code: int, starts: str, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(starts), result.stderr
    for fragment in fragments:
        assert fragment in last, last


@pytest.mark.parametrize("script, args, starts, complaint", [
    ("producer.py", ["--bogus"], "usage: python3 producer.py [--resume]: ", "unrecognized arguments: --bogus"),
    ("producer.py", ["--resume", "0"], "usage: python3 producer.py [--resume]: ", "unrecognized arguments: 0"),
    ("weather_generator.py", ["0.1"], "usage: python3 weather_generator.py (no arguments): ",
     "unrecognized arguments: 0.1"),
])
def test_bad_arguments_are_a_usage_error(pipeline, script, args, starts, complaint):
    result = pipeline.run(script, *args)
    one_line_error(result, 2, starts, complaint)
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("variable, value", [("PRODUCER_RESUME", "maybe"), ("PRODUCER_GAP_GRACE_SECONDS", "soon")])
def test_a_bad_producer_variable_is_named(pipeline, variable, value):
    one_line_error(pipeline.run("producer.py", **{variable: value}), 1, "producer.py: error: ", variable, value)


@pytest.mark.parametrize("script", ["producer.py", "weather_generator.py"])
def test_an_unreachable_database_is_named_after_the_startup_wait(pipeline, script):
    url = pipeline.env["DB_URL"].replace("127.0.0.1:3306", "127.0.0.1:1")
    result = pipeline.run(script, DB_URL=url, STARTUP_WAIT_SECONDS="1")
    one_line_error(result, 1, f"{script}: error: ", "failed (", "Can't connect to MySQL server on '127.0.0.1:1'", "DB_URL")


@pytest.mark.parametrize("script", ["producer.py", "weather_generator.py"])
def test_a_missing_database_is_named_at_once(pipeline, script):
    url = pipeline.env["DB_URL"].replace(f"/{pipeline.database}?", f"/{pipeline.database}_missing?")
    result = pipeline.run(script, DB_URL=url, timeout=60)
    one_line_error(result, 1, f"{script}: error: ", f"Unknown database '{pipeline.database}_missing'",
                   "create the database", "DB_URL")


@pytest.mark.parametrize("script", ["producer.py", "weather_generator.py"])
@pytest.mark.parametrize("change, complaint, advice", [
    ("ALTER TABLE temperatures DROP COLUMN degrees", "Unknown column 'degrees'", "the table needs the columns"),
    ("DROP TABLE temperatures", "temperatures' doesn't exist", "CREATE TABLE temperatures"),
])
def test_a_table_not_as_expected_is_named_at_once(pipeline, script, change, complaint, advice):
    with pipeline.engine.begin() as connection:
        connection.execute(sqlalchemy.text(change))
    result = pipeline.run(script, timeout=60)
    one_line_error(result, 1, f"{script}: error: ", complaint, advice)
