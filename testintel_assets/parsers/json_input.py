"""JSON documents and JSON lines with the rejection vocabulary of the XML readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from testintel_assets.parsers import ArtifactRejected


def load_document(path: Path) -> Any:
    """The whole document; empty, non-UTF-8 or malformed input raises ArtifactRejected."""
    data = path.read_bytes()
    if not data.strip():
        raise ArtifactRejected("empty file: no JSON document")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ArtifactRejected(f"not UTF-8: invalid byte 0x{data[exc.start]:02x} on line {line}") from None
    except json.JSONDecodeError as exc:
        raise ArtifactRejected(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def iter_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, object) per non-blank line, streamed; the first bad line rejects the file."""
    seen = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            seen = True
            try:
                yield number, json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                raise ArtifactRejected(
                    f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} on line {number}"
                ) from None
            except json.JSONDecodeError as exc:
                truncated = " (truncated last line?)" if not raw.endswith(b"\n") else ""
                raise ArtifactRejected(f"malformed JSON on line {number}: {exc.msg}{truncated}") from None
    if not seen:
        raise ArtifactRejected("empty file: no JSON lines")


def require_mapping(document: Any, what: str, *keys: str) -> dict[str, Any]:
    """`document` must be an object with every key in `keys`, else the file is not `what`."""
    if not isinstance(document, dict):
        raise ArtifactRejected(f"not {what}: the document is a JSON {type(document).__name__}, not an object")
    missing = [key for key in keys if key not in document]
    if missing:
        raise ArtifactRejected(f"not {what}: missing key(s) {', '.join(missing)}")
    return document
