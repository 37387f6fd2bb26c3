"""Bounded-memory readers shared by the coverage formats: defused streaming XML and JSON objects.

XML goes through expat directly, the push parser under ElementTree's iterparse, with start/end
callbacks and no tree at all, so memory does not grow with the report. It refuses entity
declarations, external entities and external DTD loading, the guards defusedxml puts on expat:
a billion-laughs bomb or an XXE probe is rejected before any entity is expanded.

JSON reports are read member by member from the top-level object (and, for coverage.py, from its
`files` object): each file entry is decoded with the C scanner as soon as it is complete, so memory
is bounded by the largest single file entry, not by the report.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.parsers import expat

from testintel_assets.parsers import ArtifactRejected

CHUNK_BYTES = 1 << 20


def require_content(path: Path) -> None:
    if path.stat().st_size == 0:
        raise ArtifactRejected("empty file")


@contextmanager
def entries_of(kind: str) -> Iterator[None]:
    """Turn a missing key or a wrong type inside a report entry into a rejection that says so."""
    try:
        yield
    except ArtifactRejected:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise ArtifactRejected(f"malformed {kind} entry: {exc!r}") from exc


# ------------------------------------------------------------------------------------------ XML
def _refuse_entity(*_args: object) -> None:
    raise ArtifactRejected("XML declares entities (possible entity-expansion bomb); refused")


def _refuse_external(*_args: object) -> int:
    raise ArtifactRejected("XML references an external entity; refused")


class XmlHandler:
    """Callbacks for `stream_xml` (attributes as a dict, or as [name, value, ...] when
    `ordered_attributes`). `end` and `text` are optional because each Python callback per
    element costs time: a handler may also drop them mid-stream through `parser` (set before
    parsing), e.g. once past the part of the document that needs them."""

    parser: Any = None
    ordered_attributes = False
    end: Callable[[str], None] | None = None
    text: Callable[[str], None] | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        raise NotImplementedError


def stream_xml(path: Path, handler: XmlHandler) -> None:
    """Feed the file to expat in chunks; the handler sees every element (and text run)."""
    require_content(path)
    parser = expat.ParserCreate()
    handler.parser = parser
    parser.ordered_attributes = handler.ordered_attributes
    parser.StartElementHandler = handler.start
    if handler.end is not None:
        parser.EndElementHandler = handler.end
    if handler.text is not None:
        parser.buffer_text = True
        parser.CharacterDataHandler = handler.text
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    at_end = False
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                parser.Parse(chunk, False)
            at_end = True
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        hint = " (the file ends early: truncated?)" if at_end else ""
        if reason == "not well-formed (invalid token)":
            hint = " (not UTF-8, or not XML?)"
        raise ArtifactRejected(
            f"not well-formed XML: {reason} at line {exc.lineno}, column {exc.offset}{hint}"
        ) from exc


# ----------------------------------------------------------------------------------------- JSON
_WHITESPACE = " \t\r\n"


class _JsonReader:
    """A cursor over a JSON text decoded incrementally; values come from the C `raw_decode`."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("rb")
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._json = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._eof = False
        self._read_size = CHUNK_BYTES

    def close(self) -> None:
        self._handle.close()

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._handle.read(self._read_size)
        try:
            decoded = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise ArtifactRejected(f"not UTF-8: {exc.reason} near byte {exc.start}") from exc
        self._eof = not chunk
        self._buffer = self._buffer[self._pos :] + decoded
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character, or '' at the end of the text."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "end of file (truncated?)"
            raise ArtifactRejected(f"not valid JSON: expected {char!r}, found {shown}")
        self._pos += 1

    def value(self) -> Any:
        """Decode one complete value, reading more while the buffer ends inside it."""
        self.peek()
        while True:
            try:
                value, end = self._json.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                if self._eof:
                    raise ArtifactRejected(f"not valid JSON: {exc.msg} (truncated?)") from exc
                self._read_size = min(self._read_size * 2, 64 * CHUNK_BYTES)
                self._fill()
                continue
            if end == len(self._buffer) and not self._eof:  # a number may continue in the next chunk
                self._fill()
                continue
            self._pos = end
            self._read_size = CHUNK_BYTES
            return value

    def members(self) -> Iterator[str]:
        """Keys of the object at the cursor; the caller reads or descends into each value."""
        self.expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise ArtifactRejected("not valid JSON: object key is not a string")
            self.expect(":")
            yield key
            if self.peek() == ",":
                self._pos += 1
                continue
            self.expect("}")
            return

    def finish(self) -> None:
        if self.peek():
            raise ArtifactRejected("not valid JSON: text after the top-level object")


def stream_json_members(path: Path, descend: str | None = None) -> Iterator[tuple[str | None, str, Any]]:
    """(parent, key, value) for each member of the top-level object; members of the object under
    `descend` are yielded one by one with parent=descend instead of as one large value."""
    require_content(path)
    reader = _JsonReader(path)
    try:
        if reader.peek() != "{":
            raise ArtifactRejected("not a JSON object at the top level")
        for key in reader.members():
            if key == descend and reader.peek() == "{":
                for inner in reader.members():
                    yield descend, inner, reader.value()
            else:
                yield None, key, reader.value()
        reader.finish()
    finally:
        reader.close()
