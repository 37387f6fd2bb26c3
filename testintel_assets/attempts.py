"""How pytest phase reports (setup, call, teardown) add up to one attempt's status.

Shared by the pytest plugin's export and the pytest-reportlog reader; standard library only.
A failed (or pytest-rerunfailures `rerun`) call is `failed`, a failed setup or teardown is `error`
(pytest's own wording), a skip in any phase is `skipped`; the worst phase wins.
"""

from __future__ import annotations

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
RANK = {PASSED: 0, SKIPPED: 1, FAILED: 2, ERROR: 3}


def phase_status(when: str | None, outcome: str | None) -> str:
    if outcome in ("failed", "rerun"):
        return FAILED if when == "call" else ERROR
    if outcome == "skipped":
        return SKIPPED
    return PASSED


def worse(current: str, new: str) -> bool:
    """True when `new` should replace `current` as the attempt's status."""
    return RANK[new] > RANK[current]
