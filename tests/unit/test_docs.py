"""The docs name every table and column of the contract, and every config key the models accept."""

import re

from testintel_assets.configuration import ScoringFile
from testintel_assets.schemas import TABLES
from testintel_assets.settings import REPO_ROOT


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### (.+)$", text, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_tables_md_documents_every_table_and_column() -> None:
    sections = _sections((REPO_ROOT / "docs" / "tables.md").read_text())
    for table, schema in TABLES.items():
        title = next((name for name in sections if table in [part.strip() for part in name.split(",")]), None)
        assert title is not None, f"docs/tables.md has no section for {table}"
        for column in schema.names():
            assert f"`{column}`" in sections[title], f"docs/tables.md: {table}.{column} is not described"


def test_configuration_md_names_every_scoring_key() -> None:
    text = (REPO_ROOT / "docs" / "configuration.md").read_text()
    for section, field in ScoringFile.model_fields.items():
        assert section in text, f"docs/configuration.md does not mention scoring.yaml `{section}`"
        nested = getattr(field.annotation, "model_fields", {})
        for key in nested:
            assert key in text, f"docs/configuration.md does not mention scoring.yaml {section}.{key}"
