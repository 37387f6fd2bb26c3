"""Gap tickets: the seed's template rendered for every Top-N gap, as text and as Jira request bodies.

Template: "Automate {flow} happy path on {platform}", with the usage, the coverage and a list of
acceptance criteria. One ticket per gap (flow x gap kind); its label `testintel-gap-<flow>-<kind>`
is how a ticket already filed is found again, so a gap is never ticketed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import polars as pl

from testintel_assets.configuration import Catalog

LABEL_PREFIX = "testintel-gap"
ALL_PLATFORMS = "all platforms"
_LABEL_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def gap_label(flow: str, gap_kind: str) -> str:
    """Jira labels cannot hold spaces; flows and kinds are already lower-case words."""
    return _LABEL_UNSAFE.sub("-", f"{LABEL_PREFIX}-{flow}-{gap_kind}".lower())


@dataclass(frozen=True)
class GapTicket:
    day: date
    rank: int
    flow: str
    gap_kind: str
    platform: str
    owner: str
    summary: str
    facts: list[str]
    acceptance_criteria: list[str]

    @property
    def label(self) -> str:
        return gap_label(self.flow, self.gap_kind)

    @property
    def labels(self) -> list[str]:
        return ["testintel", self.label]

    def text(self) -> str:
        """Plain text for the dry run and for people reading the terminal."""
        lines = [self.summary, *(f"  {fact}" for fact in self.facts), "  Acceptance criteria:"]
        lines += [f"  - {criterion}" for criterion in self.acceptance_criteria]
        lines.append(f"  Labels: {', '.join(self.labels)}")
        return "\n".join(lines)

    def jira_fields(self, project: str, issue_type: str, flavour: str) -> dict[str, object]:
        """The `fields` of POST /rest/api/{3,2}/issue: Atlassian Document Format on Cloud (v3),
        wiki markup on Server/Data Center (v2)."""
        description: object = self._adf() if flavour == "cloud" else self._wiki()
        return {
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": self.summary,
            "labels": self.labels,
            "description": description,
        }

    def _adf(self) -> dict[str, object]:
        def paragraph(text: str) -> dict[str, object]:
            return {"type": "paragraph", "content": [{"type": "text", "text": text}]}

        return {
            "type": "doc",
            "version": 1,
            "content": [
                *(paragraph(fact) for fact in self.facts),
                {
                    "type": "heading",
                    "attrs": {"level": 3},
                    "content": [{"type": "text", "text": "Acceptance criteria"}],
                },
                {
                    "type": "bulletList",
                    "content": [
                        {"type": "listItem", "content": [paragraph(criterion)]}
                        for criterion in self.acceptance_criteria
                    ],
                },
            ],
        }

    def _wiki(self) -> str:
        criteria = "\n".join(f"* {criterion}" for criterion in self.acceptance_criteria)
        return "\n\n".join([*self.facts, f"h3. Acceptance criteria\n{criteria}"])


def _latest_usage(flow_usage: pl.DataFrame, day: date) -> dict[str, dict[str, object]]:
    """Per flow, its flow_usage row of the newest day on or before `day`."""
    rows = (
        flow_usage.filter(pl.col("day") <= day)
        .sort("day")
        .group_by("flow", maintain_order=True)
        .last()
        .iter_rows(named=True)
    )
    return {row["flow"]: row for row in rows}


def _percent(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0%}"


def render_gap_tickets(
    top_n_gaps: pl.DataFrame, flow_usage: pl.DataFrame, catalog: Catalog
) -> list[GapTicket]:
    """One GapTicket per TOP_N_GAPS row, in (day, gap kind, rank) order; usage details from
    FLOW_USAGE when known (platform, events, users), else the gap row's normalised usage alone."""
    target = catalog.scoring.slo.min_top_n_coverage
    stable_runs = catalog.scoring.flakes.last_runs
    tickets = []
    for gap in top_n_gaps.sort("day", "gap_kind", "rank").iter_rows(named=True):
        usage = _latest_usage(flow_usage, gap["day"]).get(gap["flow"], {})
        platform = usage.get("top_platform") or ALL_PLATFORMS
        flow = catalog.flows_by_name.get(gap["flow"])
        owner = gap["owner"] or (flow.owner if flow else "") or catalog.owners.default_owner
        what = f" ({flow.description.rstrip('.')})" if flow and flow.description else ""
        usage_fact = f"Usage: {_percent(gap['usage'])} of the busiest flow's traffic"
        if usage:
            usage_fact += (
                f" ({usage.get('events') or 0:,} events from {usage.get('users') or 0:,} users "
                f"over {usage.get('window_days')} days, {_percent(usage.get('platform_share'))} on {platform})"
            )
        tickets.append(
            GapTicket(
                day=gap["day"],
                rank=gap["rank"],
                flow=gap["flow"],
                gap_kind=gap["gap_kind"],
                platform=platform,
                owner=owner,
                summary=f"Automate {gap['flow']} happy path on {platform}",
                facts=[
                    f"Top-N gap #{gap['rank']} ({gap['gap_kind']}) on {gap['day']}: {gap['reason']}.",
                    usage_fact + ".",
                    f"Coverage: {_percent(gap['coverage'])} blended (target {target:.0%}).",
                    f"Defect density: {gap['defect_density'] or 0:.2f}; risk score "
                    f"{gap['risk_score'] or 0:.0f} ({gap['decision']}). Owner: {owner}.",
                ],
                acceptance_criteria=[
                    f"An automated end-to-end test covers the {gap['flow']} happy path{what} on {platform}.",
                    f"The test is tagged with flow '{gap['flow']}' (test metadata or [flow:{gap['flow']}] "
                    "in its title), so testintel counts it for the flow.",
                    f"It runs in a blocking pipeline and passes {stable_runs} consecutive runs without a retry.",
                    f"Blended coverage of {gap['flow']} reaches {target:.0%} (now {_percent(gap['coverage'])}).",
                    f"The {gap['gap_kind']} gap for {gap['flow']} leaves testintel's Top-N.",
                ],
            )
        )
    return tickets
