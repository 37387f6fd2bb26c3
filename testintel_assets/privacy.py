"""Personal data never reaches the warehouse: identifiers become salted HMACs, secrets become placeholders.

Two rules (docs/usage.md, "Privacy"):
- user ids, emails, IP + user-agent visitor fingerprints are replaced by HMAC-SHA256(salt, value); only
  the first 64 bits are kept, as an unsigned integer for distinct-count sketches. Without the salt the
  hash cannot be reversed by enumerating IPs or known user ids.
- free text that lands in a column (routes, event names, property values) passes `scrub_text`, which
  replaces emails, JWTs, long tokens and `key=value` secrets by placeholders. Query strings are dropped
  before that, by the parsers.

The salt comes from `TESTINTEL_PII_SALT`. When it is unset, a random 32-byte salt is generated once and
kept in `$TESTINTEL_HOME/pii_salt` (mode 0600), like Matomo's install-time salt: hashes stay stable
across runs on this installation, so distinct users can be counted across days, but nobody without the
file can recompute them. Set the variable explicitly when several machines must agree on the hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import polars as pl

from testintel_assets.settings import testintel_home

SALT_ENV = "TESTINTEL_PII_SALT"
SALT_FILE = "pii_salt"

_log = logging.getLogger(__name__)

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# JSON Web Tokens: three base64url parts, the header always starts with {" -> eyJ.
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?")
# key=value pairs whose key names a secret, wherever they appear (path params, free text).
SECRET_PAIR_RE = re.compile(
    r"(?i)\b((?:access_?|refresh_?|id_?|auth_?|api_?|session_?)?(?:token|key|secret|password|passwd|pwd|"
    r"signature|sig|code|sessionid|jsessionid|phpsessid|sid|otp))=[^&;/\s]+"
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+=~]{20,}")


def pii_salt(home: Path | None = None) -> bytes:
    """The HMAC key: `TESTINTEL_PII_SALT`, else the installation's generated salt file."""
    value = os.environ.get(SALT_ENV)
    if value:
        return value.encode("utf-8")
    path = (home or testintel_home()) / SALT_FILE
    if path.is_file():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(salt)
    _log.warning(
        "%s is unset: generated a random PII salt in %s (keep it with the warehouse)", SALT_ENV, path
    )
    return salt


def user_key(value: str, salt: bytes) -> int:
    """First 64 bits of HMAC-SHA256(salt, value): stable per installation, irreversible without the salt."""
    digest = hmac.digest(salt, value.encode("utf-8"), hashlib.sha256)
    return int.from_bytes(digest[:8], "big")


def user_key_function(salt: bytes) -> Callable[[str], int]:
    """`user_key` bound to one salt, for many values: a third of the cost per value.

    HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)) (RFC 2104). The two padded-key blocks are hashed
    once here; each value then costs copies of those SHA-256 states, not a fresh HMAC set-up.
    """
    block = hashlib.sha256().block_size
    key = hashlib.sha256(salt).digest() if len(salt) > block else salt
    key = key.ljust(block, b"\0")
    inner_start = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer_start = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def keyed(value: str) -> int:
        inner = inner_start.copy()
        inner.update(value.encode("utf-8"))
        outer = outer_start.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:8], "big")

    return keyed


def user_keys(values: pl.Series, salt: bytes) -> pl.Series:
    """`user_key` of every value, computed once per distinct value; null and empty stay null."""
    distinct = values.drop_nulls().unique()
    keyed = user_key_function(salt)
    mapping = {value: keyed(value) for value in distinct.to_list() if value}
    return values.replace_strict(mapping, default=None, return_dtype=pl.UInt64).alias(values.name)


def _looks_like_token(text: str) -> bool:
    """Random base62/base64 material mixes upper case, lower case and digits; names and slugs do not."""
    return (
        any(ch.isdigit() for ch in text)
        and any(ch.isupper() for ch in text)
        and any(ch.islower() for ch in text)
    )


def scrub_text(text: str) -> str:
    """Replace emails, JWTs, secret key=value pairs and token-like runs by placeholders."""
    text = EMAIL_RE.sub("{email}", text)
    text = JWT_RE.sub("{token}", text)
    text = SECRET_PAIR_RE.sub(lambda match: f"{match.group(1)}={{token}}", text)
    return _TOKEN_CHARS.sub(lambda m: "{token}" if _looks_like_token(m.group(0)) else m.group(0), text)


def scrub_series(values: pl.Series) -> pl.Series:
    """`scrub_text` over a column, once per distinct value."""
    distinct = values.drop_nulls().unique().to_list()
    mapping = {value: scrub_text(value) for value in distinct}
    if all(key == value for key, value in mapping.items()):
        return values
    return values.replace_strict(mapping, default=None, return_dtype=pl.String).alias(values.name)
