"""Amplitude Export API archive -> usage_events rows.

The Export API (https://amplitude.com/docs/apis/analytics/export) answers with a zip archive holding one
gzipped JSON-lines file per hour (`<project>/<project>_<yyyy-mm-dd>_<h>#<n>.json.gz`). Each line is an
event with `event_type`, `user_id`, `device_id`, `os_name`, `platform`, `device_family`,
`version_name`, `language`, `user_properties` and `event_properties`. Members are streamed one at a
time, so the archive is never unpacked in memory; a zero-byte archive stands for the API's
"no data for this range" (HTTP 404) answer and yields no rows.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.access_logs import CHUNK_BYTES, lines_frame
from testintel_assets.parsers.analytics import Spec, read_export_lines
from testintel_assets.parsers.usage import UsageParsed

SOURCE = "amplitude"


def _user(*names: str) -> tuple[str, ...]:
    return tuple(f"$.user_properties['{name}']" for name in names)


def _event(*names: str) -> tuple[str, ...]:
    return tuple(f"$.event_properties['{name}']" for name in names)


SPEC = Spec(
    source=SOURCE,
    event=("$.event_type",),
    user=("$.user_id", "$.device_id"),
    os=("$.os_name", "$.platform"),
    fields={
        "browser": ("$.browser", *_user("browser")),
        "device": ("$.device_family", "$.device_type", "$.device_model"),
        "app_version": ("$.version_name", "$.app_version", "$.start_version"),
        "plan": (*_user("plan", "Plan"), *_event("plan")),
        "tier": (*_user("customer_tier", "tier"), *_event("customer_tier")),
        "locale": ("$.language", *_user("locale"), "$.country"),
        "experiment_id": (*_event("experiment_id"), *_user("experiment_id")),
        "persona": (*_user("persona"), *_event("persona")),
    },
)


def _member_frames(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[pl.DataFrame]:
    """Line frames of one hourly member, decompressed chunk by chunk."""
    first, carry = 1, b""
    with archive.open(info) as raw, gzip.GzipFile(fileobj=raw) as member:
        while block := member.read(CHUNK_BYTES):
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry, block = block[cut:], block[:cut]
            if block:
                frame = lines_frame(block, first)
                first += frame.height
                yield frame
    if carry:
        yield lines_frame(carry, first)


def _members(archive: zipfile.ZipFile) -> Iterator[tuple[str, Iterator[pl.DataFrame]]]:
    for info in sorted(archive.infolist(), key=lambda item: item.filename):
        if info.is_dir():
            continue
        if not info.filename.endswith(".json.gz"):
            raise ArtifactRejected(f"unexpected member {info.filename!r} in the export archive")
        yield info.filename.rsplit("/", 1)[-1], _member_frames(archive, info)


def read_amplitude_export(
    path: Path, day: date, catalog: Catalog, *, salt: bytes | None = None
) -> UsageParsed:
    """Parse one saved export archive of `day`."""
    if not path.is_file():
        raise ArtifactRejected(f"{path}: no such file")
    if path.stat().st_size == 0:
        return read_export_lines([], SPEC, day, catalog, salt)
    try:
        with zipfile.ZipFile(path) as archive:
            return read_export_lines(_members(archive), SPEC, day, catalog, salt)
    except (zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ArtifactRejected(f"{path.name}: not a readable Amplitude export archive ({exc})") from exc
