"""The Report codec: the value of every message in the topic.

`report_pb2.py` is generated from `src/report.proto` and not committed. When `src/report_pb2.py`
is there and not older than the .proto (`make setup`, or the specification's own `grpc_tools.protoc
... --python_out=src/` step), it is the one imported. Otherwise importing this module generates it
into a cache folder outside `src/` (in the temporary folder, keyed by the user and the .proto's
content) and imports it from there: `docker exec ... python3 producer.py` works on a fresh checkout,
and a container never writes into the mounted `src/` (whose files belong to the host's user).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

SRC = Path(__file__).resolve().parents[2]
PROTO = SRC / "report.proto"
GENERATED = SRC / "report_pb2.py"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadReport(ValueError):
    """Bytes that are not a serialized Report."""


def cache_folder() -> Path:
    """Where report_pb2.py is generated when src/ has no fresh one: per user and .proto content."""
    digest = hashlib.sha256(PROTO.read_bytes()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"weather-report-pb2-{os.getuid()}" / digest


def build_report_pb2(folder: Path) -> Path:
    """Generate report_pb2.py into `folder`, atomically; returns its path.

    Several programs may start at once: each generates into its own temporary folder beside it and
    renames the result into place, so no program ever imports a half-written file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / GENERATED.name
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=folder, prefix=".protoc-") as out:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I={SRC}", f"--python_out={out}", PROTO.name],
                       check=True, cwd=SRC)
        os.replace(Path(out) / GENERATED.name, target)
    return target


def _is_stale() -> bool:
    return not GENERATED.exists() or GENERATED.stat().st_mtime < PROTO.stat().st_mtime


def _load_report_pb2():
    if not _is_stale():
        import report_pb2  # src/ is on the path of every program started from src/
        return report_pb2
    if "report_pb2" in sys.modules:
        return sys.modules["report_pb2"]
    path = build_report_pb2(cache_folder())
    spec = importlib.util.spec_from_file_location("report_pb2", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_pb2"] = module  # one Report class per process, whoever imports it later
    spec.loader.exec_module(module)
    return module


report_pb2 = _load_report_pb2()


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
