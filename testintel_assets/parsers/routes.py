"""Request targets -> normalised routes -> flows, shared by access logs and OpenTelemetry spans.

Normalisation runs in two stages so that per-line work stays vectorised:
1. `route_expr` (Polars, every line): drop scheme/host, query string, fragment and `;params`; replace
   emails, UUIDs, numeric segments and long hex runs by `{email}`, `{uuid}`, `{id}`, `{hash}`.
2. `refine_route` (Python, once per distinct stage-1 route): percent-decoding, tokens and JWTs ->
   `{token}`, duplicate and trailing slashes.
Flow patterns from config/flows.yaml are matched against the result (`FlowMatcher`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.privacy import scrub_text

UNMAPPED = "unmapped"
INVALID_ROUTE = "(invalid request)"

# (pattern, replacement) applied in order by route_expr; ASCII word boundaries keep the DFA engine.
_VECTOR_RULES: list[tuple[str, str]] = [
    (r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/]*", ""),
    (r"[?#;].*$", ""),
    (r"[^/]*(?:@|%40)[^/]*\.[^/]*", "{email}"),
    (r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", "{uuid}"),
    (r"/[0-9]+(?-u:\b)", "/{id}"),
    (r"(?-u:\b)[0-9A-Fa-f]{10,}(?-u:\b)", "{hash}"),
]


def route_expr(target: pl.Expr) -> pl.Expr:
    """Stage 1 over a column of request targets (path, absolute URL or origin-form with query)."""
    for pattern, replacement in _VECTOR_RULES:
        target = target.str.replace_all(pattern, replacement)
    return target


_SLASHES = re.compile(r"/{2,}")
_DIGITS = re.compile(r"(?<=/)[0-9]+(?=/|$|\.)")


@lru_cache(maxsize=200_000)
def refine_route(route: str) -> str:
    """Stage 2 for one distinct stage-1 route: decoded, tokens scrubbed, slashes tidied."""
    if not route or route == "*":
        return route or "/"
    decoded = unquote(route, errors="replace") if "%" in route else route
    cleaned = scrub_text(decoded)
    cleaned = _DIGITS.sub("{id}", cleaned)
    cleaned = _SLASHES.sub("/", cleaned)
    if not cleaned.startswith("/"):
        cleaned = "/" + cleaned
    if len(cleaned) > 1 and cleaned.endswith("/"):
        cleaned = cleaned[:-1]
    return cleaned


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """`{name}` matches one path segment, `*` (or `**`) any remainder; everything else is literal."""
    parts: list[str] = []
    for token in re.split(r"(\{[^}/]*\}|\*+)", pattern):
        if not token:
            continue
        if token.startswith("{"):
            parts.append(r"[^/]+")
        elif token.startswith("*"):
            parts.append(r".*")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def _specificity(pattern: str) -> tuple[int, int, int]:
    """Exact patterns first, then placeholders, then globs; longer literal text wins ties."""
    globs = pattern.count("*")
    placeholders = len(re.findall(r"\{[^}/]*\}", pattern))
    literal = len(re.sub(r"\{[^}/]*\}|\*", "", pattern))
    return (globs, placeholders, -literal)


class FlowMatcher:
    """Maps normalised routes to flows with the `routes` globs of flows.yaml; most specific pattern wins."""

    def __init__(self, catalog: Catalog) -> None:
        ranked = sorted(
            ((pattern, flow.name) for flow in catalog.flows.flows for pattern in flow.routes),
            key=lambda item: _specificity(item[0]),
        )
        self._patterns = [(_pattern_regex(pattern), flow) for pattern, flow in ranked]
        self._cache: dict[str, str] = {}

    def flow_of(self, route: str) -> str:
        found = self._cache.get(route)
        if found is None:
            found = next((flow for regex, flow in self._patterns if regex.fullmatch(route)), UNMAPPED)
            self._cache[route] = found
        return found
