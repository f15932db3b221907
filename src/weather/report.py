"""The Report codec: the value of every message in the topic.

`report_pb2.py` is generated from `src/report.proto` and not committed, so importing this module
builds it when it is missing or older than the .proto: `docker exec ... python3 producer.py` then
works on a fresh checkout without a separate build step.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

SRC = Path(__file__).resolve().parent.parent
PROTO = SRC / "report.proto"
GENERATED = SRC / "report_pb2.py"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadReport(ValueError):
    """Bytes that are not a serialized Report."""


def build_report_pb2() -> None:
    """Generate report_pb2.py next to report.proto, atomically.

    Several programs may start at once on a fresh checkout: each generates into its own temporary
    folder and renames the result into place, so no program ever imports a half-written file.
    """
    with tempfile.TemporaryDirectory(dir=SRC, prefix=".protoc-") as out:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I={SRC}", f"--python_out={out}", PROTO.name],
                       check=True, cwd=SRC)
        os.replace(Path(out) / GENERATED.name, GENERATED)


def _is_stale() -> bool:
    return not GENERATED.exists() or GENERATED.stat().st_mtime < PROTO.stat().st_mtime


if _is_stale():
    build_report_pb2()

import report_pb2  # noqa: E402  (generated just above when needed)


def encode(station_id: str, date: str, degrees: float) -> bytes:
    return report_pb2.Report(date=date, degrees=degrees, station_id=station_id).SerializeToString()


def decode(value: bytes | None) -> report_pb2.Report:
    """The Report in `value`; BadReport when the bytes are not one.

    Protobuf parses many byte strings without complaint (unknown fields, a message cut at a field
    boundary), so a Report must also carry a station id and a YYYY-MM-DD date and nothing else.
    Degrees may be absent: proto3 does not send 0.0.
    """
    if value is None:
        raise BadReport("not a Report (no value)")
    report = report_pb2.Report()
    try:
        report.ParseFromString(value)
    except DecodeError as error:
        raise BadReport(f"not a Report ({len(value)} bytes): {error}") from None
    if len(UnknownFieldSet(report)) or not report.station_id or not DATE.fullmatch(report.date):
        raise BadReport(f"not a Report ({len(value)} bytes): station_id {report.station_id!r}, date {report.date!r}"
                        f"{', unknown fields' if len(UnknownFieldSet(report)) else ''}")
    return report
