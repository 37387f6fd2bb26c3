"""Typed models of the YAML in `config/`, validated at load so a bad edit fails fast and says where.

Each error names the file, the key path and the fix, e.g.
`config/flows.yaml: flows[3].criticality: input should be 'critical', 'high', 'medium' or 'low'`.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from testintel_assets.settings import config_dir

Criticality = Literal["critical", "high", "medium", "low"]
CRITICALITY_WEIGHT: dict[str, float] = {"critical": 1.0, "high": 0.75, "medium": 0.5, "low": 0.25}


class ConfigError(ValueError):
    """A config file is missing, unreadable or invalid; the message says where and how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- flows.yaml
class Flow(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    aliases: list[str] = []
    events: list[str] = []
    routes: list[str] = []
    components: list[str] = []
    criticality: Criticality = "medium"
    failure_impact: float = Field(0.5, ge=0, le=1)
    revenue_weight: float = Field(0.0, ge=0, le=1)
    owner: str = ""


class FlowsFile(_Strict):
    flows: list[Flow] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names_and_aliases(self) -> FlowsFile:
        seen: dict[str, str] = {}
        for flow in self.flows:
            for label in [flow.name, *flow.aliases]:
                key = normalise_label(label)
                if key in seen and seen[key] != flow.name:
                    raise ValueError(
                        f"'{label}' names both flow '{seen[key]}' and flow '{flow.name}'; "
                        "each name or alias must belong to one flow"
                    )
                seen[key] = flow.name
        return self


# ------------------------------------------------------------------------- components.yaml
class Component(_Strict):
    name: str
    paths: list[str] = Field(min_length=1)
    owner: str = ""


class ComponentsFile(_Strict):
    components: list[Component] = []
    # Absolute CI workspace prefixes to strip from coverage paths, in addition to those detected.
    strip_prefixes: list[str] = []


# ----------------------------------------------------------------------------- owners.yaml
class Team(_Strict):
    name: str
    em: str = ""
    channel: str = ""
    members: list[str] = []


class OwnersFile(_Strict):
    teams: list[Team] = []
    default_owner: str = "unowned"


# ---------------------------------------------------------------------------- scoring.yaml
class RiskWeights(_Strict):
    """Weights of R = 100 * (w1*Usage + ... + w8*PlatformDominance - w9*Determinism) / sum(w1..w8)."""

    usage: float = Field(0.25, ge=0)
    criticality: float = Field(0.15, ge=0)
    failure_impact: float = Field(0.10, ge=0)
    revenue: float = Field(0.10, ge=0)
    defect_density: float = Field(0.15, ge=0)
    change_rate: float = Field(0.10, ge=0)
    coverage_gap: float = Field(0.10, ge=0)
    platform_dominance: float = Field(0.05, ge=0)
    determinism: float = Field(0.10, ge=0)


class Decision(_Strict):
    automate_now: float = Field(70, ge=0, le=100)
    automate_partial: float = Field(50, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Decision:
        if self.automate_partial > self.automate_now:
            raise ValueError("automate_partial must not exceed automate_now")
        return self


class Slo(_Strict):
    max_blocking_flake_rate: float = Field(0.02, ge=0, le=1)
    min_critical_flow_stability: float = Field(0.95, ge=0, le=1)
    min_top_n_coverage: float = Field(0.80, ge=0, le=1)


class Gates(_Strict):
    """Release readiness = this pre-merge gate plus every SLO."""

    min_pre_merge_pass_rate: float = Field(0.99, ge=0, le=1)


class FlakeScoreWeights(_Strict):
    """flake_score = weighted mean of its four components (docs/flakes.md)."""

    same_sha: float = Field(0.4, ge=0)
    flip: float = Field(0.2, ge=0)
    entropy: float = Field(0.2, ge=0)
    spread: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> FlakeScoreWeights:
        if self.same_sha + self.flip + self.entropy + self.spread <= 0:
            raise ValueError("at least one flake score weight must be positive")
        return self


class Flakes(_Strict):
    window_days: int = Field(14, ge=1)
    last_runs: int = Field(10, ge=2)
    flaky_min_fail_ratio: float = Field(0.10, ge=0, le=1)
    flaky_max_fail_ratio: float = Field(0.90, ge=0, le=1)
    min_runs: int = Field(3, ge=1)
    mass_failure_ratio: float = Field(0.80, gt=0, le=1)
    sla_hours_critical: int = Field(48, ge=1)
    sla_hours_other: int = Field(168, ge=1)
    exit_after_passes: int = Field(30, ge=1)
    # A run counts as an infrastructure failure only when it ran at least this many tests.
    mass_failure_min_tests: int = Field(20, ge=1)
    # The fail-ratio rule needs failures in at least this many separate streaks, so that a real
    # regression (one unbroken streak of failures) is not called flaky.
    min_fail_streaks: int = Field(2, ge=1)
    # A test whose flake_score reaches this is flaky even when neither seed rule fired.
    flaky_min_score: float = Field(0.6, ge=0, le=1)
    # Per-day weight of the decayed flip rate (Apple's 1 - lambda; 1.0 = no decay).
    decay: float = Field(0.9, ge=0.5, le=1)
    score_weights: FlakeScoreWeights = FlakeScoreWeights()
    # Quarantine: flows of these criticalities or tests of these risks get the critical SLA.
    critical_risks: list[str] = ["critical"]
    # A quarantined test also leaves after this many days without a failure (it may not run often).
    quiet_days: int = Field(14, ge=1)

    @model_validator(mode="after")
    def _ordered_ratios(self) -> Flakes:
        if self.flaky_min_fail_ratio > self.flaky_max_fail_ratio:
            raise ValueError("flaky_min_fail_ratio must not exceed flaky_max_fail_ratio")
        return self


class CoverageBlend(_Strict):
    """Blend weights (renormalised over the dimensions a report measures) and the base branch
    whose latest coverage is the day's coverage and the reference of the pre-merge delta."""

    line: float = Field(0.5, ge=0)
    branch: float = Field(0.3, ge=0)
    function: float = Field(0.2, ge=0)
    cap: float = Field(0.90, gt=0, le=1)
    base_branch: str = Field("main", min_length=1)

    @model_validator(mode="after")
    def _some_weight(self) -> CoverageBlend:
        if self.line + self.branch + self.function <= 0:
            raise ValueError("at least one of line, branch and function must have a positive weight")
        return self


class Usage(_Strict):
    window_days: int = Field(14, ge=1)
    tier_weights: dict[str, float] = {"enterprise": 1.0, "pro": 0.7, "free": 0.4, "unknown": 0.5}


class Defects(_Strict):
    window_days: int = Field(30, ge=1)
    severity_weights: dict[str, float] = {
        "critical": 5.0,
        "high": 3.0,
        "medium": 2.0,
        "low": 1.0,
        "unknown": 1.0,
    }
    # Tracker priority/severity names (normalised like flow labels) -> a severity_weights key.
    severity_aliases: dict[str, list[str]] = {
        "critical": ["critical", "blocker", "highest", "urgent", "p0", "p1", "sev0", "sev1", "s0", "s1"],
        "high": ["high", "major", "p2", "sev2", "s2"],
        "medium": ["medium", "normal", "p3", "sev3", "s3"],
        "low": ["low", "lowest", "minor", "trivial", "p4", "p5", "sev4", "s4"],
        "unknown": ["no_priority", "none", "unknown"],
    }

    @model_validator(mode="after")
    def _aliases_name_weighted_severities(self) -> Defects:
        if "unknown" not in self.severity_weights:
            raise ValueError("severity_weights needs an 'unknown' entry for defects without a severity")
        for severity in self.severity_aliases:
            if severity not in self.severity_weights:
                raise ValueError(
                    f"severity_aliases.{severity}: not a key of severity_weights "
                    f"({', '.join(self.severity_weights)})"
                )
        return self

    @cached_property
    def severity_by_alias(self) -> dict[str, str]:
        """severity_key(tracker name) -> severity; each severity also names itself."""
        mapping = {severity_key(severity): severity for severity in self.severity_weights}
        for severity, aliases in self.severity_aliases.items():
            mapping.update({severity_key(alias): severity for alias in aliases})
        return mapping


class Changes(_Strict):
    window_days: int = Field(30, ge=1)


class ScoringFile(_Strict):
    top_n: int = Field(5, ge=1)
    weights: RiskWeights = RiskWeights()
    decision: Decision = Decision()
    slo: Slo = Slo()
    gates: Gates = Gates()
    flakes: Flakes = Flakes()
    coverage: CoverageBlend = CoverageBlend()
    usage: Usage = Usage()
    defects: Defects = Defects()
    changes: Changes = Changes()


# ------------------------------------------------------------------------- quarantine.yaml
class QuarantineOverride(_Strict):
    """A person's decision about one test that wins over the flake detector until it expires."""

    test_id: str = Field(min_length=1)
    action: Literal["pin", "release"]
    reason: str = Field(min_length=1)
    by: str = Field(min_length=1)
    expires: date
    added: date | None = None


class QuarantineFile(_Strict):
    overrides: list[QuarantineOverride] = []

    @model_validator(mode="after")
    def _one_override_per_test(self) -> QuarantineFile:
        seen: set[str] = set()
        for override in self.overrides:
            if override.test_id in seen:
                raise ValueError(f"test '{override.test_id}' has more than one override; keep one")
            seen.add(override.test_id)
        return self


def load_quarantine_overrides(directory: Path | None = None) -> QuarantineFile:
    """config/quarantine.yaml, validated like the other files; absent means no overrides."""
    path = (directory or config_dir()).resolve() / "quarantine.yaml"
    if not path.is_file():
        return QuarantineFile()
    return _load_file(path, QuarantineFile)


# ------------------------------------------------------------------------------ the bundle
_LABEL_RE = re.compile(r"[^a-z0-9]+")


def normalise_label(label: str) -> str:
    """`Check-Out`, `check out` and `check_out` all name the same thing."""
    return _LABEL_RE.sub("_", label.strip().lower()).strip("_")


def severity_key(name: str) -> str:
    """`Sev 1`, `SEV-1` and `sev1` all name the same severity: lower case, letters and digits only."""
    return _LABEL_RE.sub("", name.lower())


class Catalog(BaseModel):
    """Everything in `config/`, cross-checked: flows name known components, owners name teams."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    flows: FlowsFile
    components: ComponentsFile
    owners: OwnersFile
    scoring: ScoringFile
    source: str = ""

    @cached_property
    def flow_by_label(self) -> dict[str, str]:
        return {
            normalise_label(label): flow.name
            for flow in self.flows.flows
            for label in (flow.name, *flow.aliases)
        }

    @cached_property
    def flow_by_event(self) -> dict[str, str]:
        return {event: flow.name for flow in self.flows.flows for event in flow.events}

    @cached_property
    def flows_by_name(self) -> dict[str, Flow]:
        return {flow.name: flow for flow in self.flows.flows}

    @cached_property
    def teams_by_name(self) -> dict[str, Team]:
        return {team.name: team for team in self.owners.teams}

    def canonical_flow(self, label: str | None) -> str | None:
        """The flow a free-text label (tag, Jira component, custom field) names, or None."""
        if not label:
            return None
        return self.flow_by_label.get(normalise_label(label))

    def component_of(self, path: str) -> str | None:
        """First component whose glob matches the repo-relative path (components.yaml order wins)."""
        for component in self.components.components:
            if any(fnmatch.fnmatchcase(path, pattern) for pattern in component.paths):
                return component.name
        return None


_FILES: dict[str, type[BaseModel]] = {
    "flows": FlowsFile,
    "components": ComponentsFile,
    "owners": OwnersFile,
    "scoring": ScoringFile,
}

_FIX_HINTS = {
    "extra_forbidden": "remove the key or fix its spelling",
    "missing": "add the key",
    "literal_error": "use one of the listed values",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "string_pattern_mismatch": "use lower-case letters, digits and underscores",
    "too_short": "add at least one entry",
}


def _format_validation_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        hint = _FIX_HINTS.get(item["type"], "see docs/configuration.md")
        lines.append(f"  {location or '(top level)'}: {item['msg']} (fix: {hint})")
    return "\n".join(lines)


def _load_file(path: Path, model: type[BaseModel]) -> BaseModel:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found (fix: copy it from the repository's config/)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc} (fix: correct the syntax)") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping (fix: start with '<key>:' lines)")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from exc


def _cross_check(directory: Path, catalog: Catalog) -> None:
    components = {component.name for component in catalog.components.components}
    teams = set(catalog.teams_by_name)
    problems: list[str] = []
    for index, flow in enumerate(catalog.flows.flows):
        for name in flow.components:
            if name not in components:
                problems.append(
                    f"{directory / 'flows.yaml'}: flows[{index}].components: unknown component "
                    f"'{name}' (fix: add it to components.yaml or correct the name)"
                )
        if flow.owner and teams and flow.owner not in teams:
            problems.append(
                f"{directory / 'flows.yaml'}: flows[{index}].owner: unknown team '{flow.owner}' "
                "(fix: add it to owners.yaml or correct the name)"
            )
    for index, component in enumerate(catalog.components.components):
        if component.owner and teams and component.owner not in teams:
            problems.append(
                f"{directory / 'components.yaml'}: components[{index}].owner: unknown team "
                f"'{component.owner}' (fix: add it to owners.yaml or correct the name)"
            )
    if problems:
        raise ConfigError("\n".join(problems))


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate every file of the config folder; raise ConfigError naming what is wrong."""
    directory = (directory or config_dir()).resolve()
    parts = {name: _load_file(directory / f"{name}.yaml", model) for name, model in _FILES.items()}
    catalog = Catalog(**parts, source=str(directory))
    _cross_check(directory, catalog)
    return catalog
