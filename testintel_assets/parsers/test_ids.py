"""The canonical test_id rule for the readers; it lives in `testintel_assets.naming` (standard library
only, so the pytest plugin can import it without Polars). docs/test-ids.md explains the rule."""

from testintel_assets.naming import (
    AT_TAG_PATTERN,
    KEYED_TAG_PATTERN,
    META_ALIASES,
    META_KEYS,
    PLAYWRIGHT_TITLE_SEPARATOR,
    SPACES_PATTERN,
    TAG_PATTERN,
    UNNAMED,
    clean_title,
    from_junit,
    from_playwright,
    from_pytest_nodeid,
    join_id,
    meta_key,
    split_pytest_nodeid,
    title_tags,
)

__all__ = [
    "AT_TAG_PATTERN",
    "KEYED_TAG_PATTERN",
    "META_ALIASES",
    "META_KEYS",
    "PLAYWRIGHT_TITLE_SEPARATOR",
    "SPACES_PATTERN",
    "TAG_PATTERN",
    "UNNAMED",
    "clean_title",
    "from_junit",
    "from_playwright",
    "from_pytest_nodeid",
    "join_id",
    "meta_key",
    "split_pytest_nodeid",
    "title_tags",
]
