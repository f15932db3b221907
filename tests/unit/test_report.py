"""The Report codec, and report_pb2 built on import as on a fresh checkout."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from weather.common import report

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_report_survives_encoding_with_every_field_exact():
    decoded = report.decode(report.encode("StationC", "2008-12-17", 35.26211234567891))
    assert (decoded.station_id, decoded.date, decoded.degrees) == ("StationC", "2008-12-17", 35.26211234567891)


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", report.encode("StationA", "2000-01-01", 1.0)[:-3],
                                     report.encode("StationA", "2000-01-01", 1.0)[:12],  # cut at a field boundary
                                     b"", None, b"\x20\x05" + report.encode("StationA", "2000-01-01", 1.0)])
def test_bytes_that_are_not_a_report_raise_bad_report(garbage):
    with pytest.raises(report.BadReport):
        report.decode(garbage)


def test_a_report_of_zero_degrees_has_no_degrees_field_and_is_still_a_report():
    assert report.decode(report.encode("StationJ", "2000-01-01", 0.0)).degrees == 0.0


def test_importing_the_codec_builds_report_pb2_when_it_is_missing(tmp_path):
    shutil.copy(SRC / "report.proto", tmp_path)
    shutil.copytree(SRC / "weather", tmp_path / "weather", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, "-c", "from weather.common import report; "
                             "print(report.decode(report.encode('StationA', '2000-01-01', 2.5)).degrees)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2.5\n"
    # Generated outside the source folder (which may belong to another user, mounted read-only
    # or shared with a container): nothing is written next to report.proto.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.proto", "weather"]


def test_a_fresh_report_pb2_in_src_is_the_one_imported(tmp_path):
    shutil.copy(SRC / "report.proto", tmp_path)
    shutil.copytree(SRC / "weather", tmp_path / "weather", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I=.", "--python_out=.", "report.proto"],
                   cwd=tmp_path, check=True)
    result = subprocess.run([sys.executable, "-c", "from weather.common import report; print(report.report_pb2.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == tmp_path / "report_pb2.py"
