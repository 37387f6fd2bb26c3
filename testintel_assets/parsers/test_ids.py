"""The canonical test_id: one name per test, whichever report it comes from (docs/test-ids.md).

Rule:
- pytest: `<dotted module>[.<Class>...]::<name>`, e.g. `tests.test_cart.TestCart::test_add[2]`,
  derived alike from the node id `tests/test_cart.py::TestCart::test_add[2]` and from pytest's
  JUnit `classname="tests.test_cart.TestCart" name="test_add[2]"`.
- any other JUnit producer: `<classname>::<name>` (the suite name when there is no classname).
- Playwright: `<spec file>::<describe titles and test title joined by ' › '>`, the same string
  Playwright's own JUnit reporter writes as classname and name.
- tags written into titles (`[flow:checkout]`, `@smoke`) are not part of the id, and runs of
  whitespace collapse to one space.
"""

from __future__ import annotations

import re

TITLE_TAG_RE = re.compile(r"\[(?P<key>[A-Za-z_][\w-]*):(?P<value>[^\]]+)\]")
AT_TAG_RE = re.compile(r"(?:(?<=\s)|^)@(?P<tag>[\w][\w:.-]*)")
_SPACES_RE = re.compile(r"\s+")
PLAYWRIGHT_TITLE_SEPARATOR = " › "


def title_tags(title: str) -> tuple[str, dict[str, str], list[str]]:
    """Split a title into (clean title, `[key:value]` tags, `@tags`)."""
    keyed = {m.group("key").lower(): m.group("value").strip() for m in TITLE_TAG_RE.finditer(title)}
    plain = [m.group("tag") for m in AT_TAG_RE.finditer(title)]
    clean = AT_TAG_RE.sub(" ", TITLE_TAG_RE.sub(" ", title))
    return _SPACES_RE.sub(" ", clean).strip(), keyed, plain


def clean_title(title: str) -> str:
    return title_tags(title)[0]


def from_pytest_nodeid(nodeid: str) -> str:
    """`tests/test_cart.py::TestCart::test_add[2]` -> `tests.test_cart.TestCart::test_add[2]`."""
    path, _, rest = nodeid.partition("::")
    if not rest:
        return clean_title(nodeid)
    module = path.removesuffix(".py").replace("\\", "/").replace("/", ".")
    *classes, name = rest.split("::")
    return f"{'.'.join([module, *classes])}::{clean_title(name)}"


def from_junit(classname: str | None, name: str, suite: str | None = None) -> str:
    """`<classname>::<name>`, tags stripped; falls back to the suite when classname is absent."""
    owner = (classname or suite or "").strip()
    title = clean_title(name)
    return f"{owner}::{title}" if owner else title


def from_playwright(file: str, titles: list[str]) -> str:
    """`a.spec.ts` + [`Checkout`, `pays @smoke`] -> `a.spec.ts::Checkout › pays`."""
    parts = [clean_title(title) for title in titles if title and clean_title(title)]
    return f"{file.replace(chr(92), '/')}::{PLAYWRIGHT_TITLE_SEPARATOR.join(parts)}"
