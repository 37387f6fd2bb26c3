"""Linear GraphQL `issues` pages -> tracker issues (then DEFECTS through parsers.tracker).

A page is the documented connection shape: {"data": {"issues": {"nodes": [...], "pageInfo":
{"hasNextPage", "endCursor"}}}} (https://linear.app/developers/pagination). Labels that sit in a label
group (`parent`) named like the configured flow or component group play the part of Jira's flow
field and components; all other labels go through the flow aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets.configuration import Catalog, normalise_label
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.tracker import DONE, OPEN, defects_from_landing, issues_frame, load_json

SOURCE = "linear"
# WorkflowState.type: Linear's fixed state categories.
_CATEGORY = {
    "triage": OPEN,
    "backlog": OPEN,
    "unstarted": OPEN,
    "started": OPEN,
    "completed": DONE,
    "canceled": DONE,
}
# Issue.priority: 0 no priority, 1 urgent, 2 high, 3 normal (shown as medium), 4 low.
_PRIORITY = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}

ISSUE_FIELDS = """
      identifier title url createdAt completedAt canceledAt priority priorityLabel
      state { name type }
      team { key name }
      labels { nodes { name parent { name } } }
"""


@dataclass(frozen=True)
class LinearLabelGroups:
    """Names of the label groups whose labels name a flow or a component."""

    flow: str = "Flow"
    component: str = "Component"


def _label_names(node: dict[str, object]) -> list[tuple[str, str]]:
    """(label, its group or '') for each label of the issue."""
    labels = node.get("labels")
    nodes = labels.get("nodes") if isinstance(labels, dict) else None
    pairs = []
    for label in nodes if isinstance(nodes, list) else []:
        if isinstance(label, dict) and isinstance(label.get("name"), str):
            parent = label.get("parent")
            group = parent.get("name") if isinstance(parent, dict) else None
            pairs.append((label["name"], group if isinstance(group, str) else ""))
    return pairs


def _row(node: object, index: int, groups: LinearLabelGroups, where: str) -> dict[str, object]:
    if not isinstance(node, dict) or not isinstance(node.get("identifier"), str):
        raise ArtifactRejected(f"{where}: issues.nodes[{index}] has no identifier")
    state = node.get("state") if isinstance(node.get("state"), dict) else {}
    finished = node.get("completedAt") or node.get("canceledAt")
    category = _CATEGORY.get(str(state.get("type")), DONE if finished else OPEN)
    priority = node.get("priorityLabel") or _PRIORITY.get(node.get("priority"))  # type: ignore[arg-type]
    labels = _label_names(node)
    flow_group, component_group = normalise_label(groups.flow), normalise_label(groups.component)
    return {
        "key": node["identifier"],
        "title": node.get("title"),
        "severity_name": priority,
        "status": state.get("name"),
        "status_category": category,
        "created_at": node.get("createdAt"),
        "resolved_at": finished,
        "labels": [name for name, group in labels if normalise_label(group) != component_group],
        "components": [name for name, group in labels if group and normalise_label(group) == component_group],
        "flow_values": [name for name, group in labels if group and normalise_label(group) == flow_group],
        "url": node.get("url"),
        "source": SOURCE,
    }


def issue_nodes(document: object, where: str) -> tuple[list[object], dict[str, object]]:
    """(nodes, pageInfo) of an issues page; GraphQL errors are rejected with their messages."""
    if not isinstance(document, dict):
        raise ArtifactRejected(f"{where}: not a GraphQL response (top level is {type(document).__name__})")
    if document.get("errors"):
        errors = document["errors"]
        messages = [e.get("message", e) for e in errors] if isinstance(errors, list) else errors
        raise ArtifactRejected(f"{where}: Linear returned errors: {messages}")
    data = document.get("data")
    issues = data.get("issues") if isinstance(data, dict) else None
    if not isinstance(issues, dict) or not isinstance(issues.get("nodes"), list):
        raise ArtifactRejected(f"{where}: no data.issues.nodes list (not a Linear issues page)")
    page_info = issues.get("pageInfo")
    return issues["nodes"], page_info if isinstance(page_info, dict) else {}


def parse_linear_response(
    content: bytes, where: str = "linear response", groups: LinearLabelGroups | None = None
) -> pl.DataFrame:
    """One issues page -> TRACKER_ISSUES, one row per node."""
    groups = groups or LinearLabelGroups()
    nodes, _ = issue_nodes(load_json(content, where), where)
    return issues_frame([_row(node, i, groups, where) for i, node in enumerate(nodes)], where)


def linear_defects(
    folder: Path, day: date, catalog: Catalog, groups: LinearLabelGroups | None = None
) -> pl.DataFrame:
    """DEFECTS for `day` from the latest complete pull in `landing/linear/<day>/` (empty if none)."""
    groups = groups or LinearLabelGroups()
    return defects_from_landing(
        folder, day, catalog, lambda content, where: parse_linear_response(content, where, groups)
    )
