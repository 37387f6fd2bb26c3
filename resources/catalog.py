"""The validated config catalogue (flows, components, owners, scoring) as a resource."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg

from testintel_assets.configuration import Catalog, load_catalog


@cache
def _load(directory: str) -> Catalog:
    return load_catalog(Path(directory))


class CatalogResource(dg.ConfigurableResource):
    config_dir: str

    def load(self) -> Catalog:
        return _load(self.config_dir)
