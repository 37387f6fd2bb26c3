"""Hardened, streaming XML for the test-report readers: no entity expansion, no external fetches.

Three entry points share one rejection vocabulary:
- `XmlText(path, on_root)`: the fast path (JUnit). C parsers check the file and Python receives
  decoded text segments to split and classify in bulk (module `junit`); no parser calls back into
  Python per element;
- `feed_expat(parser, path)`: drives a raw pyexpat parser built by `hardened_expat()` with the same
  guards defusedxml installs (entity declarations and external references refused, parameter
  entities never parsed); `XmlText` falls back on it for the final word and for its messages;
- `iterparse(path)`: `defusedxml.ElementTree.iterparse` for the smaller formats (TRX, NUnit, CTest).

Every failure becomes `ArtifactRejected` naming the problem and, where the parser knows it, the line.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from lxml import etree

from testintel_assets.parsers import ArtifactRejected

CHUNK_BYTES = 1 << 20
SEGMENT_CHARS = 1 << 22
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
    with _expat_errors(path), path.open("rb") as handle:
        if not (chunk := handle.read(CHUNK_BYTES)):
            raise ArtifactRejected("empty file (0 bytes)")
        while chunk:
            parser.Parse(chunk, False)
            chunk = handle.read(CHUNK_BYTES)
        parser.Parse(b"", True)


@contextmanager
def _expat_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except expat.ExpatError as exc:
        raise _malformed(path, expat.ErrorString(exc.code), exc.lineno, exc.offset) from None
    except ArtifactRejected:
        raise
    except (ValueError, UnicodeError, LookupError) as exc:  # an encoding expat or Python cannot decode
        raise ArtifactRejected(f"unreadable XML: {exc}") from None


class XmlText:
    """A safe, well-formed XML file as decoded text from its root element on, in segments.

    C does the checking, chunk by chunk, before a chunk's text is handed out:
    - hardened expat reads the prolog (entity declarations and external references refused) and
      stops at the root element, learning the encoding and the byte where the root starts;
      `on_root(tag, attributes)` runs right then, so a foreign document is named before anything else;
    - libxml2 (lxml without tree, entity substitution, network or huge_tree, and without Python
      callbacks) checks the whole document for well-formedness at about twice expat's speed;
    - if libxml2 objects, hardened expat re-reads the file and has the last word: it rejects with the
      reason `feed_expat` gives, and what it accepts is read (libxml2 alone refuses CDATA sections,
      comments and attribute values over 10 MB).
    Each segment (about `segment_chars`) ends outside any tag and reference, with line ends
    normalised, CDATA sections turned into escaped text and comments and processing instructions
    dropped: split at '<', every piece but the first starts with a tag, the first continues the text
    of the previous segment.
    """

    def __init__(
        self,
        path: Path,
        on_root: Callable[[str, dict[str, str]], None],
        boundary: str = "<",
        segment_chars: int = SEGMENT_CHARS,
    ) -> None:
        self.path = path
        self.on_root = on_root
        self.boundary = boundary  # segments end before this markup where they can
        self.segment_chars = segment_chars

    def __iter__(self) -> Iterator[str]:
        pending: list[str] = []
        size = 0
        for text in self._checked_text():
            pending.append(text)
            size += len(text)
            if size >= self.segment_chars:
                ready, rest, regions = _cut("".join(pending), self.boundary)
                pending, size = [rest], len(rest)
                if ready:
                    yield _normalise(ready, regions)
        if text := "".join(pending):
            yield _normalise(text, bool(_REGION.search(text)) if "!" in text or "?" in text else False)

    def _checked_text(self) -> Iterator[str]:
        prolog = _Prolog(self.path)
        checker: etree.XMLParser | None = _libxml2_checker()
        decoder: codecs.IncrementalDecoder | None = None
        with self.path.open("rb") as handle:
            if not (chunk := handle.read(CHUNK_BYTES)):
                raise ArtifactRejected("empty file (0 bytes)")
            while chunk:
                start = 0
                if decoder is None and (root := prolog.feed(chunk)) is not None:
                    self.on_root(root.tag, root.attrs)
                    decoder = _decoder(prolog.head, prolog.encoding)
                    start = root.offset
                checker = self._check(checker, lambda parser, data=chunk: parser.feed(data))
                if decoder is not None:
                    yield _decode(decoder, chunk[start:])
                chunk = handle.read(CHUNK_BYTES)
        if decoder is None:
            prolog.feed(b"", final=True)  # raises: no root element
            raise ArtifactRejected("no XML element found")
        self._check(checker, lambda parser: parser.close())
        yield _decode(decoder, b"", final=True)

    def _check(
        self, checker: etree.XMLParser | None, step: Callable[[etree.XMLParser], object]
    ) -> etree.XMLParser | None:
        """libxml2's verdict on one more chunk; on objection, expat's verdict on the whole file."""
        if checker is None:
            return None
        try:
            step(checker)
        except etree.ParseError:
            feed_expat(hardened_expat(), self.path)
            return None
        return checker


class _RootFound(Exception):
    """Raised by the prolog parser's start handler: the prolog is over."""

    def __init__(self, tag: str, attrs: dict[str, str], offset: int) -> None:
        super().__init__(tag)
        self.tag, self.attrs, self.offset = tag, attrs, offset


class _Prolog:
    """Hardened expat up to the root element's start tag."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parser = hardened_expat()
        self.parser.XmlDeclHandler = self._declaration
        self.parser.StartElementHandler = self._root
        self.encoding: str | None = None
        self.head = b""
        self.fed = 0

    def _declaration(self, _version: str, encoding: str | None, _standalone: int) -> None:
        self.encoding = encoding

    def _root(self, tag: str, attrs: dict[str, str]) -> None:
        raise _RootFound(tag, attrs, self.parser.CurrentByteIndex)

    def feed(self, chunk: bytes, final: bool = False) -> _RootFound | None:
        """The root element, its offset counted in `chunk`, once the prolog is over."""
        self.head = self.head or chunk[:4]
        try:
            with _expat_errors(self.path):
                self.parser.Parse(chunk, final)
        except _RootFound as root:
            root.offset -= self.fed
            return root
        self.fed += len(chunk)
        return None


class _NoEvents:
    """An lxml parser target without start/end/data methods: libxml2 never calls into Python."""

    def close(self) -> None:
        return None


def _libxml2_checker() -> etree.XMLParser:
    return etree.XMLParser(target=_NoEvents(), resolve_entities=False, no_network=True, huge_tree=False)


_BYTE_ORDER = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"<\x00", "utf-16-le"),  # UTF-16 without byte-order mark (XML 1.0 appendix F)
    (b"\x00<", "utf-16-be"),
)


def _decoder(head: bytes, declared: str | None) -> codecs.IncrementalDecoder:
    """The decoder for the text after the prolog: the byte-order mark decides, else the declaration."""
    name = next((name for mark, name in _BYTE_ORDER if head.startswith(mark)), declared or "utf-8")
    try:
        return codecs.getincrementaldecoder(name)()
    except LookupError:
        raise ArtifactRejected(f"unreadable XML: unknown encoding {name!r}") from None


def _decode(decoder: codecs.IncrementalDecoder, data: bytes, final: bool = False) -> str:
    try:
        return decoder.decode(data, final)
    except UnicodeDecodeError as exc:
        raise ArtifactRejected(f"unreadable XML: {exc}") from None


_REGION = re.compile(r"<!\[CDATA\[|<!--|<\?")
_REGION_END = {"<![CDATA[": "]]>", "<!--": "-->", "<?": "?>"}
_LEXICAL = re.compile(r"<!\[CDATA\[(.*?)\]\]>|<!--.*?-->|<\?.*?\?>", re.DOTALL)


def _cut(text: str, boundary: str) -> tuple[str, str, bool]:
    """(ready, rest, whether `ready` holds a CDATA section, comment or processing instruction):
    `ready` ends before `boundary` or at least outside any tag, reference or CR LF pair. A region
    still open is closed in `ready` and reopened in `rest`, so not even a huge one has to fit in
    memory."""
    done = 0
    regions = "!" in text or "?" in text  # a quick memchr: no region opens without one of them
    while regions and (match := _REGION.search(text, done)):
        closer = _REGION_END[match[0]]
        end = text.find(closer, match.end())
        if end < 0:
            keep = len(text.rstrip(closer[0] + "\r"))  # a partial closer or CR LF may continue
            if keep > match.end():
                return text[:keep] + closer, match[0] + text[keep:], True
            return text[: match.start()], text[match.start() :], done > 0
        done = end + len(closer)
    cut = text.rfind(boundary, done)
    if cut <= 0:
        cut = text.rfind("<", done)
    if cut < 0:  # text since the last region: keep back a reference or CR that may continue
        cut = len(text.rstrip("\r"))
        reference = text.rfind("&", done, cut)
        if reference >= 0 and ";" not in text[reference:cut]:
            cut = reference
    return text[:cut], text[cut:], done > 0


def _normalise(text: str, regions: bool) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _LEXICAL.sub(_as_text, text) if regions else text


def _as_text(match: re.Match[str]) -> str:
    """A CDATA section becomes the same characters as escaped text; comments and PIs vanish."""
    cdata = match[1]
    return "" if cdata is None else cdata.replace("&", "&amp;").replace("<", "&lt;")


# What a segment's pieces are made of, after `_normalise` (only space, tab and LF are blanks left).
_START_TAG = re.compile(
    r"""([^ \t\n/>]+)((?:[ \t\n]+[^ \t\n=]+[ \t\n]*=[ \t\n]*(?:"[^"]*"|'[^']*'))*)[ \t\n]*(/?)>"""
)
_ATTRIBUTE = re.compile(r"""([^ \t\n=]+)[ \t\n]*=[ \t\n]*(?:"([^"]*)"|'([^']*)')""")
# Character references, the five predefined entities, and any other name: an entity that only an
# external DTD (never read) could declare, which expat skips, and so do we.
_REFERENCE = re.compile(r"&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(lt|gt|amp|quot|apos)|[^;&#\s]+);")
NAMED_REFERENCES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'"}


def start_tag(text: str, at: int = 0) -> tuple[str, str, bool, int]:
    """Text with a start tag at `at` (just after its '<') -> (name, attribute markup, self-closing,
    end of the tag)."""
    match = _START_TAG.match(text, at)
    if match is None:  # cannot happen after a well-formedness check; say so rather than guess
        raise ArtifactRejected(f"malformed XML: unreadable start tag <{text[at : at + 60]}")
    return match[1], match[2], bool(match[3]), match.end()


def attributes(markup: str) -> dict[str, str]:
    """Attribute markup -> values as an XML parser reports them (blanks normalised, references resolved)."""
    return {name: attribute_value(double or single) for name, double, single in _ATTRIBUTE.findall(markup)}


def attribute_value(raw: str) -> str:
    """Attribute-value normalisation (XML 1.0 section 3.3.3): literal tab and LF become spaces, and
    references are resolved after that, so `&#10;` stays a line break."""
    if "\t" in raw or "\n" in raw:
        raw = raw.replace("\t", " ").replace("\n", " ")
    return unescape(raw)


def unescape(text: str) -> str:
    """Resolve character references and the five predefined entities; no other entity can be
    declared (`hardened_expat` refuses), so any other is one expat would skip."""
    return _REFERENCE.sub(_resolve, text) if "&" in text else text


def _resolve(match: re.Match[str]) -> str:
    if match[3]:
        return NAMED_REFERENCES[match[0]]
    if match[1] or match[2]:
        return chr(int(match[1], 16) if match[1] else int(match[2]))
    return ""


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
