"""The config catalogue loads, and every invalid edit fails fast naming file, key and fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from testintel_assets.configuration import ConfigError, load_catalog
from testintel_assets.settings import REPO_ROOT


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_default_catalogue_is_a_realistic_web_shop() -> None:
    catalog = load_catalog(REPO_ROOT / "config")
    names = {flow.name for flow in catalog.flows.flows}
    assert len(names) >= 10
    assert {"signup", "login", "search", "product_view", "cart", "checkout", "payment", "profile"} <= names
    assert {"file_upload", "admin_reports"} <= names
    assert catalog.scoring.decision.automate_now == 70
    assert catalog.scoring.slo.max_blocking_flake_rate == 0.02
    assert catalog.scoring.coverage.cap == 0.90
    assert catalog.scoring.usage.window_days == 14


def test_aliases_and_components_resolve() -> None:
    catalog = load_catalog(REPO_ROOT / "config")
    assert catalog.canonical_flow("Check-Out") == "checkout"
    assert catalog.canonical_flow("basket") == "cart"
    assert catalog.canonical_flow("no such flow") is None
    assert catalog.component_of("shop/payments/gateway.py") == "payments"
    assert catalog.component_of("shop/settings.py") == "common"
    assert catalog.component_of("vendor/lib.py") is None


def test_wrong_value_names_file_key_and_fix(config_copy: Path) -> None:
    _edit(config_copy / "flows.yaml", lambda data: data["flows"][3].update(criticality="urgent"))
    with pytest.raises(ConfigError) as error:
        load_catalog(config_copy)
    message = str(error.value)
    assert "flows.yaml" in message
    assert "flows[3].criticality" in message
    assert "fix: use one of the listed values" in message


def test_misspelt_key_is_refused(config_copy: Path) -> None:
    _edit(config_copy / "scoring.yaml", lambda data: data["weights"].update(usgae=0.3))
    with pytest.raises(
        ConfigError, match=r"scoring.yaml(.|\n)*weights.usgae(.|\n)*remove the key or fix its spelling"
    ):
        load_catalog(config_copy)


def test_unknown_component_of_a_flow_is_refused(config_copy: Path) -> None:
    _edit(config_copy / "flows.yaml", lambda data: data["flows"][0]["components"].append("ledger"))
    with pytest.raises(ConfigError, match=r"flows\[0\].components: unknown component 'ledger'"):
        load_catalog(config_copy)


def test_alias_claimed_by_two_flows_is_refused(config_copy: Path) -> None:
    _edit(config_copy / "flows.yaml", lambda data: data["flows"][1]["aliases"].append("basket"))
    with pytest.raises(ConfigError, match="'basket' names both flow"):
        load_catalog(config_copy)


def test_broken_yaml_and_missing_file(config_copy: Path) -> None:
    (config_copy / "owners.yaml").write_text("teams: [unclosed\n")
    with pytest.raises(ConfigError, match=r"owners\.yaml: not valid YAML"):
        load_catalog(config_copy)
    (config_copy / "owners.yaml").unlink()
    with pytest.raises(ConfigError, match=r"owners\.yaml: file not found"):
        load_catalog(config_copy)


def test_decision_thresholds_must_be_ordered(config_copy: Path) -> None:
    _edit(config_copy / "scoring.yaml", lambda data: data["decision"].update(automate_partial=80))
    with pytest.raises(ConfigError, match="automate_partial must not exceed automate_now"):
        load_catalog(config_copy)
