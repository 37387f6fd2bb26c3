"""Where raw artifacts land; assets read it, API pulls write new files into it, nothing edits it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class LandingResource(dg.ConfigurableResource):
    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)
