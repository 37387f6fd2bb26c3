"""Jira search responses -> tracker issues (then DEFECTS through parsers.tracker).

Reads both search flavours as Jira writes them: Cloud's enhanced search `/rest/api/3/search/jql`
(`issues`, `nextPageToken`, `isLast`) and Server/Data Center's `/rest/api/2/search` (`issues`,
`startAt`, `maxResults`, `total`); also a single issue (`key`, `fields`). Field values come in the
shapes of the Jira REST API: priority {name}, status {name, statusCategory {key}}, components
[{name}], labels [str], select custom fields {value} or [{value}], text custom fields str.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from testintel_assets.configuration import Catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.tracker import DONE, OPEN, defects_from_landing, issues_frame, load_json

SOURCE = "jira"
# statusCategory.key: Jira's three fixed categories (To Do, In Progress, Done).
_CATEGORY = {"new": OPEN, "indeterminate": OPEN, "done": DONE}


@dataclass(frozen=True)
class JiraFields:
    """Which Jira fields carry severity and flow; the base URL builds browse links."""

    severity_field: str = "priority"
    flow_field: str = ""
    base_url: str = ""

    def requested(self) -> list[str]:
        """The `fields` to ask for: enhanced search returns only id and key without them."""
        wanted = ["summary", "status", "created", "resolutiondate", "resolution", "components", "labels"]
        wanted += [name for name in (self.severity_field, self.flow_field) if name]
        return list(dict.fromkeys(wanted))


def texts(value: object) -> list[str]:
    """The readable strings of a field value: options {value}, objects {name}, lists of either."""
    if value is None:
        return []
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    if isinstance(value, dict):
        for name in ("value", "name", "displayName", "key"):
            if isinstance(value.get(name), str | int | float):
                return [str(value[name])]
        return []
    return [str(value)] if str(value).strip() else []


def _browse_base(issue: dict[str, object], base_url: str) -> str:
    if base_url:
        return base_url.rstrip("/")
    self_url = issue.get("self")
    if isinstance(self_url, str) and "/rest/" in self_url:
        return self_url.split("/rest/", 1)[0]
    return ""


def _status_category(fields: dict[str, object]) -> str:
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    known = _CATEGORY.get(str(category.get("key", "")))
    if known:
        return known
    # Responses that leave out the category (trimmed test data, old servers): resolved means done.
    return DONE if fields.get("resolutiondate") or fields.get("resolution") else OPEN


def _row(issue: object, index: int, fields_map: JiraFields, where: str) -> dict[str, object]:
    if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
        raise ArtifactRejected(f"{where}: issues[{index}] has no key")
    key = issue["key"]
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise ArtifactRejected(
            f"{where}: issue {key} has no fields (ask the search for fields={','.join(fields_map.requested())})"
        )
    base = _browse_base(issue, fields_map.base_url)
    severity = texts(fields.get(fields_map.severity_field))
    status = texts(fields.get("status"))
    return {
        "key": key,
        "title": fields.get("summary") if isinstance(fields.get("summary"), str) else None,
        "severity_name": severity[0] if severity else None,
        "status": status[0] if status else None,
        "status_category": _status_category(fields),
        "created_at": fields.get("created"),
        "resolved_at": fields.get("resolutiondate"),
        "labels": texts(fields.get("labels")),
        "components": texts(fields.get("components")),
        "flow_values": texts(fields.get(fields_map.flow_field)) if fields_map.flow_field else [],
        "url": f"{base}/browse/{key}" if base else None,
        "source": SOURCE,
    }


def issues_of(document: object, where: str) -> list[object]:
    """The issue list of a search page or single issue; Jira's error bodies are rejected with their text."""
    if isinstance(document, dict):
        if isinstance(document.get("issues"), list):
            return document["issues"]
        if "key" in document and "fields" in document:
            return [document]
        if "errorMessages" in document or "errors" in document:
            raise ArtifactRejected(
                f"{where}: Jira returned an error: {document.get('errorMessages') or document.get('errors')}"
            )
        raise ArtifactRejected(
            f"{where}: not a Jira search response or issue (top-level keys: {', '.join(sorted(document)[:8])})"
        )
    raise ArtifactRejected(f"{where}: not a Jira search response (top level is {type(document).__name__})")


def parse_jira_response(
    content: bytes, where: str = "jira response", fields: JiraFields | None = None
) -> pl.DataFrame:
    """One search page (either flavour) or one issue -> TRACKER_ISSUES, one row per issue."""
    fields = fields or JiraFields()
    issues = issues_of(load_json(content, where), where)
    return issues_frame([_row(issue, i, fields, where) for i, issue in enumerate(issues)], where)


def jira_defects(folder: Path, day: date, catalog: Catalog, fields: JiraFields | None = None) -> pl.DataFrame:
    """DEFECTS for `day` from the latest complete pull in `landing/jira/<day>/` (empty if none)."""
    fields = fields or JiraFields()
    return defects_from_landing(
        folder, day, catalog, lambda content, where: parse_jira_response(content, where, fields)
    )
