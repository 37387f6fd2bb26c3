"""The sample organisation is deterministic and follows the landing contract."""

import json
from datetime import date
from pathlib import Path

from testintel_assets.demo.generate import generate
from testintel_assets.landing.ci import file_hash


def _tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): file_hash(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes_and_landing_layout(tmp_path: Path) -> None:
    end = date(2026, 11, 20)
    assert generate(tmp_path / "a", days=2, end=end) == [date(2026, 11, 19), end]
    generate(tmp_path / "b", days=2, end=end)
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first == second
    assert _tree(tmp_path / "a") != _tree(
        generate(tmp_path / "c", days=2, end=end, seed=8) and tmp_path / "c"
    )
    runs = sorted(path.parent.name for path in (tmp_path / "a" / "ci" / "2026-11-20").glob("*/run.json"))
    assert runs[0].startswith("nightly-") and len(runs) >= 4
    run = json.loads((tmp_path / "a" / "ci" / "2026-11-20" / runs[1] / "run.json").read_text())
    assert {"run_id", "sha", "branch", "pipeline", "blocking", "started_at", "finished_at"} <= set(run)
    for source in ("access_logs", "mixpanel", "jira"):
        assert any((tmp_path / "a" / source / "2026-11-20").iterdir())
