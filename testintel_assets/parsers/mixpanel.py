"""Mixpanel raw event export (JSONL) -> usage_events rows.

The Raw Event Export API (https://developer.mixpanel.com/reference/raw-event-export) returns one JSON
object per line: `{"event": "<name>", "properties": {"time": ..., "distinct_id": ..., "$os": ...,
"$browser": ..., ...}}`. Default properties carry a `$` prefix; the seed's context properties (plan,
customer tier, persona, experiment_id, locale, app version) are the project's own super properties, so
several common spellings are tried. distinct_id is hashed (privacy.py) before anything else sees it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.analytics import Spec, bytes_line_frames, file_line_frames, read_export_lines
from testintel_assets.parsers.usage import UsageParsed

SOURCE = "mixpanel"


def _props(*names: str) -> tuple[str, ...]:
    return tuple(f"$.properties['{name}']" for name in names)


SPEC = Spec(
    source=SOURCE,
    event=("$.event",),
    user=_props("distinct_id", "$user_id", "$device_id"),
    os=_props("$os", "os"),
    fields={
        "browser": _props("$browser", "browser"),
        "device": _props("$device", "$model", "device"),
        "app_version": _props("$app_version_string", "$app_release", "app_version"),
        "plan": _props("plan", "Plan", "$plan"),
        "tier": _props("customer_tier", "tier", "Customer Tier"),
        "locale": _props("locale", "$locale", "language", "mp_country_code"),
        "experiment_id": _props("experiment_id", "Experiment ID", "$experiment_id"),
        "persona": _props("persona", "Persona"),
    },
)


def read_mixpanel_export(
    source: Path | bytes, day: date, catalog: Catalog, *, salt: bytes | None = None
) -> UsageParsed:
    """Parse one raw export (a saved file or the response bytes) of `day`; an empty export is no usage."""
    if isinstance(source, Path):
        if not source.is_file():
            raise ArtifactRejected(f"{source}: no such file")
        chunks = [(source.name, file_line_frames(source))]
    else:
        chunks = [("response", bytes_line_frames(source))]
    return read_export_lines(chunks, SPEC, day, catalog, salt)
