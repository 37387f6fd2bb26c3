"""testintel's pytest plugin (entry point `pytest11: testintel`; docs/pytest-plugin.md).

- markers `flow`, `feature`, `mixpanel` (alias `event`), `event`, `risk`, `persona`, `owner`,
  `platform`, `component`, each with one value: `@pytest.mark.flow("checkout")`. They are also
  recorded as `user_properties`, so pytest's JUnit report and the report log carry them;
- `--testintel-require flow,risk` (or ini `testintel_require`): collection fails with one report
  listing every test without those tags;
- `--testintel-export PATH`: writes tags and every attempt (pytest-rerunfailures reruns included);
- `--testintel-quarantine PATH` (JSON or YAML): quarantined tests still run, but their failures are
  reported as xfailed and do not fail the session; `--testintel-lane quarantine|main` runs only the
  quarantined tests or only the others.

Imports only pytest and the standard library (plus PyYAML for a YAML quarantine file), so loading
it costs pytest nothing noticeable.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testintel_assets.attempts import PASSED, phase_status, worse
from testintel_assets.naming import META_KEYS, from_pytest_nodeid, meta_key

MARKERS = {
    "flow": "user flow the test covers, e.g. flow('checkout')",
    "feature": "product feature, e.g. feature('coupons')",
    "mixpanel": "analytics event the flow emits (stored as `event`), e.g. mixpanel('Checkout Completed')",
    "event": "analytics event the flow emits, e.g. event('Checkout Completed')",
    "risk": "risk class: critical, high, medium or low",
    "persona": "user persona, e.g. persona('guest')",
    "owner": "owning team, e.g. owner('commerce')",
    "platform": "platform the test targets, e.g. platform('android')",
    "component": "component under test (config/components.yaml), e.g. component('cart')",
}
EXPORT_VERSION = 1
MESSAGE_LIMIT = 2000
LANES = ("all", "main", "quarantine")
_STATE = pytest.StashKey["_State"]()


@dataclass
class _Quarantine:
    entries: dict[str, dict[str, Any]]
    expired: dict[str, dict[str, Any]]


@dataclass
class _State:
    quarantine: _Quarantine | None = None
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> export entry
    open_attempts: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantined_failures: dict[str, str] = field(default_factory=dict)  # nodeid -> reason


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("testintel", "test intelligence: tags, export, quarantine")
    group.addoption("--testintel-require", metavar="TAGS", help="comma-separated tags every test must carry")
    group.addoption("--testintel-export", metavar="PATH", help="write tags and every attempt as JSON to PATH")
    group.addoption("--testintel-quarantine", metavar="PATH", help="quarantine file (JSON or YAML)")
    group.addoption(
        "--testintel-lane", choices=LANES, default="all", help="run only main or quarantined tests"
    )
    parser.addini("testintel_require", "comma-separated tags every test must carry", default="")


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}(value): {description}")
    state = _State()
    path = config.getoption("--testintel-quarantine")
    if path:
        state.quarantine = load_quarantine(Path(path), dt.date.today())
    config.stash[_STATE] = state
    config.pluginmanager.register(_Recorder(config, state), "testintel-recorder")


def load_quarantine(path: Path, today: dt.date) -> _Quarantine:
    """The quarantine file (`testintel quarantine export` writes it), split into active and expired."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only a YAML quarantine file pays for PyYAML

        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict) or "tests" not in document:
        raise pytest.UsageError(f"{path}: not a testintel quarantine file (expected a `tests` list)")
    active: dict[str, dict[str, Any]] = {}
    expired: dict[str, dict[str, Any]] = {}
    for entry in document["tests"] or []:
        expires = entry.get("expires")
        is_expired = expires is not None and dt.date.fromisoformat(str(expires)) < today
        (expired if is_expired else active)[str(entry["test_id"])] = entry
    return _Quarantine(active, expired)


def item_tags(item: pytest.Item) -> dict[str, str]:
    """Canonical tag -> value from the item's closest markers (`mixpanel` stored as `event`)."""
    tags: dict[str, str] = {}
    for name in MARKERS:
        marker = item.get_closest_marker(name)
        if marker is None:
            continue
        value = marker.args[0] if marker.args else marker.kwargs.get("value")
        key = meta_key(name)
        if key and value is not None and str(value).strip():
            tags.setdefault(key, str(value).strip())
    return tags


def _required(config: pytest.Config) -> list[str]:
    raw = config.getoption("--testintel-require") or config.getini("testintel_require") or ""
    wanted = [part.strip() for part in str(raw).replace("\n", ",").split(",") if part.strip()]
    unknown = [tag for tag in wanted if meta_key(tag) is None]
    if unknown:
        raise pytest.UsageError(
            f"testintel: unknown required tag(s) {unknown}; known: {', '.join(META_KEYS)}"
        )
    return [meta_key(tag) or tag for tag in wanted]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state: _State = config.stash[_STATE]
    lane = config.getoption("--testintel-lane")
    if lane != "all":
        quarantined = state.quarantine.entries if state.quarantine else {}
        keep = [
            item
            for item in items
            if (from_pytest_nodeid(item.nodeid) in quarantined) == (lane == "quarantine")
        ]
        deselected = [item for item in items if item not in keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = keep
    required = _required(config)
    offenders = []
    for item in items:
        tags = item_tags(item)
        item.user_properties.extend((key, value) for key, value in tags.items())
        missing = [tag for tag in required if tag not in tags]
        if missing:
            offenders.append(f"  {item.nodeid}: missing {', '.join(missing)}")
    if offenders:
        raise pytest.UsageError(
            f"testintel: {len(offenders)} test(s) lack required tags ({', '.join(required)}):\n"
            + "\n".join(offenders)
            + "\nAdd markers, e.g. @pytest.mark.flow('checkout'), or change --testintel-require."
        )


class _Recorder:
    """Per-session hooks: quarantine outcomes, attempts for the export, the summary section."""

    def __init__(self, config: pytest.Config, state: _State) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        quarantine = self.state.quarantine
        entry = quarantine.entries.get(from_pytest_nodeid(item.nodeid)) if quarantine else None
        if entry is not None and report.failed:
            # xfail-like: shown as "x", does not fail the session; the export keeps the real status
            report.testintel_status = phase_status(report.when, "failed")
            report.outcome = "skipped"
            report.wasxfail = f"quarantined: {entry.get('reason') or 'no reason given'}"
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        attempt = state.open_attempts.setdefault(
            report.nodeid, {"status": PASSED, "duration_ms": 0.0, "message": None}
        )
        attempt["duration_ms"] += report.duration * 1000.0
        real = getattr(report, "testintel_status", None)
        status = real or phase_status(report.when, report.outcome)
        if real and report.nodeid not in state.quarantined_failures:
            state.quarantined_failures[report.nodeid] = str(getattr(report, "wasxfail", ""))
        if worse(attempt["status"], status):
            attempt["status"] = status
            attempt["message"] = _message(report)
        if report.when == "teardown":
            state.open_attempts.pop(report.nodeid)
            test = state.tests.setdefault(
                report.nodeid,
                {
                    "nodeid": report.nodeid,
                    "test_id": from_pytest_nodeid(report.nodeid),
                    "tags": {
                        key: value for key, value in report.user_properties if meta_key(str(key)) == key
                    },
                    "attempts": [],
                },
            )
            attempt["attempt"] = len(test["attempts"])
            attempt["duration_ms"] = round(attempt["duration_ms"], 3)
            test["attempts"].append(attempt)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("--testintel-export")
        if not path:
            return
        export = {
            "testintel_export": EXPORT_VERSION,
            "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rootdir": str(self.config.rootpath),
            "tests": list(self.state.tests.values()),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(export, indent=1) + "\n", encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        quarantine = self.state.quarantine
        if quarantine is None:
            return
        state = self.state
        write = terminalreporter.write_line
        terminalreporter.section("testintel quarantine")
        for nodeid, reason in state.quarantined_failures.items():
            write(f"QUARANTINED FAILURE (does not fail the session) {nodeid} - {reason}")
        passing = [
            nodeid
            for nodeid in state.tests
            if nodeid not in state.quarantined_failures and from_pytest_nodeid(nodeid) in quarantine.entries
        ]
        for nodeid in passing:
            write(f"quarantined but passed (candidate for release) {nodeid}")
        ran = {from_pytest_nodeid(nodeid) for nodeid in state.tests}
        for test_id, entry in quarantine.expired.items():
            if test_id in ran:
                write(f"EXPIRED quarantine (failures count again) {test_id}, expired {entry.get('expires')}")
        write(
            f"{len(state.quarantined_failures)} quarantined failure(s), {len(passing)} quarantined pass(es)"
        )


def _message(report: pytest.TestReport) -> str | None:
    if report.passed:
        return None
    if getattr(report, "wasxfail", None) and not getattr(report, "testintel_status", None):
        return f"xfail: {report.wasxfail}"
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else report.longreprtext
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        text = str(report.longrepr[2])
    text = (text or "").strip()
    return text[:MESSAGE_LIMIT] or None
