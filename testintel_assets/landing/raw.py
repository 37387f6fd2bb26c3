"""Raw-first storage for API pulls: the response is on disk before anything parses it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import date
from pathlib import Path


def save_raw(landing_root: Path, source: str, day: date, name: str, content: bytes) -> Path:
    """Write `landing/<source>/<day>/<name>` atomically; never overwrite different bytes.

    A second pull of the same day with identical bytes returns the existing file; with different
    bytes it lands beside it as `<stem>.<hash8><suffix>`, so every pull stays re-derivable.
    """
    folder = landing_root / source / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        if target.read_bytes() == content:
            return target
        digest = hashlib.sha256(content).hexdigest()[:8]
        target = folder / f"{Path(name).stem}.{digest}{''.join(Path(name).suffixes)}"
        if target.exists():
            return target
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(tmp, target)
    return target
