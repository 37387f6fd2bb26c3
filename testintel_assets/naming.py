"""The canonical test_id: one name per test, whichever report it comes from (docs/test-ids.md).

Rule:
- pytest: `<dotted module>[.<Class>...]::<name>`, e.g. `tests.test_cart.TestCart::test_add[2]`,
  derived alike from the node id `tests/test_cart.py::TestCart::test_add[2]` and from pytest's
  JUnit `classname="tests.test_cart.TestCart" name="test_add[2]"` (the same mangling pytest's
  junitxml plugin applies, so both sides agree by construction).
- any other JUnit producer: `<classname>::<name>` (the suite name when there is no classname).
- Playwright: `<spec file>::<describe titles and test title joined by ' › '>`, the same string
  Playwright's own JUnit reporter writes as classname and name.
- tags written into titles (`[flow:checkout]` for the known metadata keys, `@smoke`) are not part
  of the id, and runs of blanks collapse to one space.

This module imports only the standard library: the pytest plugin loads it at pytest start-up
(`testintel_assets.parsers.test_ids` re-exports it for the readers).
`testintel_assets.parsers.test_rows.clean_title_expr` is the vectorised twin of `clean_title`; both
use the patterns below, written in the subset of syntax that Python's `re` and Rust's `regex`
(Polars) read identically.
"""

from __future__ import annotations

import re

# Metadata keys a title tag, a JUnit property, an annotation or a pytest marker may carry.
META_KEYS = ("flow", "feature", "risk", "event", "persona", "owner", "platform", "component")
# Other spellings of the same keys (pytest marker `mixpanel`, property `testintel.flow`, ...).
META_ALIASES = {"mixpanel": "event"}
_KEY_ALTERNATION = "|".join((*META_KEYS, *META_ALIASES))

BLANKS = "[ \t\r\n]"
# `[flow:checkout]` for a known key only: `test_parse[http:x]` keeps its pytest parameter id.
KEYED_TAG_PATTERN = rf"\[(?i:{_KEY_ALTERNATION})\s*:[^\]\[]+\]"
# `@smoke`, `@flow:checkout` at the start of a title or after a blank (so `user@host` stays).
AT_TAG_PATTERN = rf"(?:^|{BLANKS})@[A-Za-z0-9_][A-Za-z0-9_:.\-]*"
TAG_PATTERN = f"{KEYED_TAG_PATTERN}|{AT_TAG_PATTERN}"
SPACES_PATTERN = f"{BLANKS}+"

_TAG_RE = re.compile(TAG_PATTERN)
_KEYED_RE = re.compile(r"\[(?P<key>[A-Za-z]+)\s*:(?P<value>[^\]\[]+)\]")
_AT_RE = re.compile(r"@(?P<tag>[A-Za-z0-9_][A-Za-z0-9_:.\-]*)")
_SPACES_RE = re.compile(SPACES_PATTERN)
PLAYWRIGHT_TITLE_SEPARATOR = " › "
UNNAMED = "(unnamed)"


def meta_key(name: str) -> str | None:
    """The canonical metadata key for a property/annotation/marker name, or None if it is not one."""
    key = name.strip().lower().removeprefix("testintel.").removeprefix("testintel_")
    key = META_ALIASES.get(key, key)
    return key if key in META_KEYS else None


def title_tags(title: str) -> tuple[str, dict[str, str], list[str]]:
    """Split a title into (clean title, `[key:value]` and `@key:value` tags, plain `@tags`)."""
    keyed: dict[str, str] = {}
    plain: list[str] = []
    for match in _TAG_RE.finditer(title):
        text = match.group(0).strip(" \t\r\n")
        if text.startswith("["):
            inner = _KEYED_RE.fullmatch(text)
            if inner and (key := meta_key(inner.group("key"))):
                keyed[key] = inner.group("value").strip()
            continue
        tag = text[1:]
        key, sep, value = tag.partition(":")
        if sep and value and (canonical := meta_key(key)):
            keyed[canonical] = value
        else:
            plain.append(tag)
    return clean_title(title), keyed, plain


def clean_title(title: str) -> str:
    return _SPACES_RE.sub(" ", _TAG_RE.sub(" ", title)).strip(" ")


def _owner(*candidates: str | None) -> str:
    """The first candidate that is not blank, stripped the way the vectorised path strips it."""
    return next((c.strip(" \t\r\n") for c in candidates if c and c.strip(" \t\r\n")), "")


def join_id(owner: str, name: str) -> str:
    owner, name = clean_title(owner), clean_title(name) or UNNAMED
    return f"{owner}::{name}" if owner else name


def split_pytest_nodeid(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's JUnit writer derives them (`junitxml.mangle_test_address`):
    the parameter part from the first `[` is kept whole, so `::` inside it does not split."""
    address, bracket, params = nodeid.partition("[")
    path, sep, rest = address.partition("::")
    if not sep:
        return "", nodeid
    module = re.sub(r"\.py$", "", path.replace("\\", "/")).replace("/", ".")
    *classes, name = rest.split("::")
    return ".".join([module, *classes]), name + bracket + params


def from_pytest_nodeid(nodeid: str) -> str:
    """`tests/test_cart.py::TestCart::test_add[2]` -> `tests.test_cart.TestCart::test_add[2]`."""
    return join_id(*split_pytest_nodeid(nodeid))


def from_junit(classname: str | None, name: str | None, suite: str | None = None) -> str:
    """`<classname>::<name>`, tags stripped; falls back to the suite when classname is blank."""
    return join_id(_owner(classname, suite), name or "")


def from_playwright(file: str, titles: list[str]) -> str:
    """`a.spec.ts` + [`Checkout`, `pays @smoke`] -> `a.spec.ts::Checkout › pays`."""
    parts = [clean for title in titles if title and (clean := clean_title(title))]
    return join_id(file.replace("\\", "/"), PLAYWRIGHT_TITLE_SEPARATOR.join(parts))
