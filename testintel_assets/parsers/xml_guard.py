"""Hardened, streaming XML for the test-report readers: no entity expansion, no external fetches.

Two entry points share one rejection vocabulary:
- `feed_expat(parser, path)`: the fast path (JUnit) drives a raw pyexpat parser with callbacks;
  `hardened_expat()` builds it with the same guards defusedxml installs (entity declarations and
  external references refused, parameter entities never parsed);
- `iterparse(path)`: `defusedxml.ElementTree.iterparse` for the smaller formats (TRX, NUnit, CTest).

Every failure becomes `ArtifactRejected` naming the problem and, where the parser knows it, the line.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from testintel_assets.parsers import ArtifactRejected

CHUNK_BYTES = 1 << 20
# expat's error messages (ExpatError and ElementTree's ParseError both carry them)
_TRUNCATED = {expat.errors.XML_ERROR_NO_ELEMENTS, expat.errors.XML_ERROR_UNCLOSED_TOKEN}
_BAD_BYTES = {expat.errors.XML_ERROR_INVALID_TOKEN, expat.errors.XML_ERROR_PARTIAL_CHAR}


class UnsafeXml(ArtifactRejected):
    """The document declares entities or references external resources: refused unread."""


def _refuse_entity(name: str, *_args: object) -> None:
    raise UnsafeXml(f"XML entity declaration <!ENTITY {name}> refused (entity expansion / XXE guard)")


def _refuse_external(_context: object, _base: object, system_id: str | None, *_args: object) -> None:
    raise UnsafeXml(f"external XML entity reference {system_id!r} refused (XXE guard)")


def hardened_expat() -> expat.XMLParserType:
    """A pyexpat parser that refuses what defusedxml refuses, with text buffered into big chunks."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    return parser


def feed_expat(parser: expat.XMLParserType, path: Path) -> None:
    """Stream the file through `parser` in 1 MiB chunks; errors become ArtifactRejected."""
    try:
        with path.open("rb") as handle:
            if not (chunk := handle.read(CHUNK_BYTES)):
                raise ArtifactRejected("empty file (0 bytes)")
            while chunk:
                parser.Parse(chunk, False)
                chunk = handle.read(CHUNK_BYTES)
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _malformed(path, expat.ErrorString(exc.code), exc.lineno, exc.offset) from None
    except ArtifactRejected:
        raise
    except (ValueError, UnicodeError) as exc:  # e.g. an encoding declaration expat cannot decode
        raise ArtifactRejected(f"unreadable XML: {exc}") from None


def iterparse(path: Path, events: tuple[str, ...] = ("end",)) -> Iterator[tuple[str, ET.Element]]:
    """defusedxml's iterparse with the rejection vocabulary of `feed_expat`."""
    if path.stat().st_size == 0:
        raise ArtifactRejected("empty file (0 bytes)")
    try:
        yield from SafeET.iterparse(str(path), events=events)
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(":", 1)[0]
        raise _malformed(path, message, line, column) from None
    except DefusedXmlException as exc:
        raise UnsafeXml(f"XML refused by the entity-expansion / XXE guard: {exc}") from None


_ROOT_RE = re.compile(rb"<(?![?!])([A-Za-z_][\w.\-:]*)")
_SKIP_RE = re.compile(rb"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", re.DOTALL)


def root_element(head: bytes) -> str | None:
    """The document element's name from the first bytes of a file (prolog, comments, DOCTYPE skipped)."""
    match = _ROOT_RE.search(_SKIP_RE.sub(b"", head))
    return local_name(match.group(1).decode("ascii", "replace")) if match else None


def local_name(tag: str) -> str:
    """`{namespace}Name` -> `Name` (TRX and NUnit 3 declare a default namespace)."""
    return tag.rpartition("}")[2]


def _malformed(path: Path, problem: str, line: int, column: int) -> ArtifactRejected:
    where = f"line {line}, column {column}"
    if problem in _TRUNCATED and _is_blank(path):
        return ArtifactRejected("empty document: no XML element found")
    if problem in _TRUNCATED:
        return ArtifactRejected(f"truncated XML: the document ends before its root element closes ({where})")
    if problem in _BAD_BYTES and (bad := _first_invalid_utf8(path)) is not None:
        bad_line, byte = bad
        return ArtifactRejected(
            f"not UTF-8: invalid byte 0x{byte:02x} on line {bad_line} and no other encoding declared"
        )
    return ArtifactRejected(f"malformed XML: {problem} ({where})")


def _is_blank(path: Path) -> bool:
    with path.open("rb") as handle:
        return not handle.read(CHUNK_BYTES).strip(b" \t\r\n\xef\xbb\xbf")


def _first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """(line, byte) of the first byte that is not UTF-8, if the file is meant to be UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        head = handle.read(200)
        if b"encoding=" in head.split(b"?>", 1)[0] and not _declares_utf8(head):
            return None
        handle.seek(0)
        while chunk := handle.read(CHUNK_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk.count(b"\n", 0, exc.start), chunk[exc.start]
            line += chunk.count(b"\n")
    return None


def _declares_utf8(head: bytes) -> bool:
    declaration = head.split(b"?>", 1)[0].lower().replace(b"'", b'"')
    return b'encoding="utf-8"' in declaration or b'encoding="utf8"' in declaration
