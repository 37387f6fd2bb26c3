"""The defects and changes sections of config/scoring.yaml: defaults, aliases and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from testintel_assets.configuration import ConfigError, load_catalog
from testintel_assets.settings import config_dir


def _with_scoring(tmp_path: Path, **sections: object) -> Path:
    for source in config_dir().glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text())
    scoring = yaml.safe_load((tmp_path / "scoring.yaml").read_text())
    scoring.update(sections)
    (tmp_path / "scoring.yaml").write_text(yaml.safe_dump(scoring))
    return tmp_path


def test_shipped_config_has_windows_and_every_alias_names_a_weighted_severity() -> None:
    scoring = load_catalog().scoring
    assert scoring.defects.window_days == 30 and scoring.changes.window_days == 30
    assert set(scoring.defects.severity_by_alias.values()) <= set(scoring.defects.severity_weights)
    assert scoring.defects.severity_by_alias["nopriority"] == "unknown"


def test_alias_for_an_unweighted_severity_is_refused(tmp_path: Path) -> None:
    folder = _with_scoring(
        tmp_path,
        defects={
            "window_days": 30,
            "severity_weights": {"high": 3.0, "unknown": 1.0},
            "severity_aliases": {"blocker": ["p0"]},
        },
    )
    with pytest.raises(ConfigError, match=r"severity_aliases\.blocker: not a key of severity_weights"):
        load_catalog(folder)


def test_weights_need_an_unknown_entry(tmp_path: Path) -> None:
    folder = _with_scoring(
        tmp_path, defects={"window_days": 30, "severity_weights": {"high": 3.0}, "severity_aliases": {}}
    )
    with pytest.raises(ConfigError, match="'unknown' entry"):
        load_catalog(folder)


def test_changes_window_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"changes\.window_days"):
        load_catalog(_with_scoring(tmp_path, changes={"window_days": 0}))
