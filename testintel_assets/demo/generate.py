"""Write N days of Acme Shop into the landing folder, in the formats real tools write.

Seeded and deterministic: the same seed and end day give the same bytes. Per day: one nightly run
on main and several pre-merge runs (some re-running a sha, as developers press "retry"), each with
a pytest JUnit XML, the testintel pytest-plugin export, a Playwright JSON report, a coverage.py XML
and run.json written last; NGINX access logs; a Mixpanel raw export; a Jira search snapshot.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

from testintel_assets.configuration import load_catalog
from testintel_assets.demo import org
from testintel_assets.parsers.test_ids import from_pytest_nodeid

PRE_MERGE_RUNS_PER_DAY = 5
RETRY_SHA_CHANCE = 0.35
REQUESTS_PER_DAY = 6000
EVENTS_PER_DAY = 2500
INFRA_OUTAGE_DAY_OFFSET = 3  # days before the end: one pre-merge run where the database was down
CI_WORKSPACE = "/home/runner/work/shop/shop"


@dataclass(frozen=True)
class Attempt:
    status: str  # passed | failed | skipped
    duration_ms: float
    message: str | None


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    sha: str
    branch: str
    pipeline: str
    blocking: bool
    started_at: datetime
    outage: bool


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _weighted(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in options], weights=[weight for _, weight in options])[0]


def _attempts(
    test: org.DemoTest, rng: random.Random, retries: int, outage: bool, regression: bool
) -> list[Attempt]:
    """First try plus reruns while failing (pytest-rerunfailures / Playwright retries)."""
    attempts: list[Attempt] = []
    for _ in range(retries + 1):
        duration = round(test.duration_ms * rng.uniform(0.8, 1.3), 1)
        if outage:
            failed, message = True, "OperationalError: could not connect to server: Connection refused"
        elif test.broken:
            failed, message = True, "UnicodeEncodeError: 'ascii' codec can't encode character '\\xe9'"
        elif regression:
            failed, message = True, "AssertionError: expected quantity 3, got 2"
        elif rng.random() < test.fail_rate:
            failed = True
            message = rng.choice(
                [
                    f"TimeoutError: waited {rng.randint(5, 30)}s for element #submit",
                    f"AssertionError: result order differs at index {rng.randint(0, 9)}",
                    f"ConnectionResetError: [Errno 104] peer reset (port {rng.randint(30000, 60000)})",
                ]
            )
        else:
            failed, message = False, None
        attempts.append(Attempt("failed" if failed else "passed", duration, message))
        if not failed:
            break
    return attempts


def _pytest_junit(plan: RunPlan, results: dict[str, list[Attempt]]) -> str:
    """pytest's xunit2 JUnit: one testcase per test with the final outcome (reruns are dropped)."""
    cases = []
    failures = 0
    total_time = 0.0
    for test in org.PYTEST_TESTS:
        last = results[test.nodeid][-1]
        total_time += last.duration_ms / 1000
        classname, _, name = from_pytest_nodeid(test.nodeid).partition("::")
        body = ""
        if last.status == "failed":
            failures += 1
            message = last.message or ""
            body = (
                f"<failure message={quoteattr(message)}>{test.nodeid.split('::')[0]}:42: in "
                f"{name}\n    assert response.ok\nE   {_xml_text(message)}</failure>"
            )
        cases.append(
            f'<testcase classname="{classname}" name="{_xml_text(name)}" '
            f'time="{last.duration_ms / 1000:.3f}">{body}</testcase>'
        )
    stamp = plan.started_at.isoformat(timespec="microseconds")
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="0" failures="{failures}" skipped="0" '
        f'tests="{len(cases)}" time="{total_time:.3f}" timestamp="{stamp}" hostname="ci-runner-7">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    )


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plugin_export(plan: RunPlan, results: dict[str, list[Attempt]]) -> dict[str, object]:
    return {
        "testintel_export": 1,
        "generated_at": plan.started_at.isoformat().replace("+00:00", "Z"),
        "rootdir": CI_WORKSPACE,
        "tests": [
            {
                "nodeid": test.nodeid,
                "test_id": from_pytest_nodeid(test.nodeid),
                "tags": {
                    "flow": test.flow,
                    "risk": test.risk,
                    "owner": test.owner,
                    "component": test.component,
                    "feature": test.feature,
                    "event": test.event,
                },
                "attempts": [
                    {
                        "attempt": index,
                        "status": attempt.status,
                        "duration_ms": attempt.duration_ms,
                        "message": attempt.message,
                    }
                    for index, attempt in enumerate(results[test.nodeid])
                ],
            }
            for test in org.PYTEST_TESTS
        ],
    }


def _playwright_report(plan: RunPlan, results: dict[tuple[str, str], list[Attempt]]) -> dict[str, object]:
    """The Playwright JSON reporter's shape: file suites > describe suites > specs > tests per project."""
    files: dict[str, dict[str, list[org.DemoTest]]] = {}
    for test in org.PLAYWRIGHT_TESTS:
        file, _, rest = test.nodeid.partition("::")
        describe = rest.split(" › ")[0]
        files.setdefault(file, {}).setdefault(describe, []).append(test)
    counts = {"expected": 0, "unexpected": 0, "flaky": 0, "skipped": 0}
    start = plan.started_at + timedelta(minutes=2)
    suites = []
    for file, describes in files.items():
        describe_suites = []
        for describe_index, (describe, tests) in enumerate(describes.items()):
            specs = []
            for spec_index, test in enumerate(tests):
                title = test.nodeid.split(" › ", 1)[1]
                spec_tests = []
                for project in org.PLAYWRIGHT_PROJECTS:
                    attempts = results[(test.nodeid, project)]
                    if attempts[-1].status == "failed":
                        outcome = "unexpected"
                    elif len(attempts) > 1:
                        outcome = "flaky"
                    else:
                        outcome = "expected"
                    counts[outcome] += 1
                    spec_tests.append(
                        {
                            "timeout": 30000,
                            "annotations": [
                                {"type": "flow", "description": test.flow},
                                {"type": "owner", "description": test.owner},
                            ],
                            "expectedStatus": "passed",
                            "projectId": project,
                            "projectName": project,
                            "results": [
                                {
                                    "workerIndex": retry,
                                    "status": attempt.status,
                                    "duration": int(attempt.duration_ms),
                                    "errors": [{"message": attempt.message}] if attempt.message else [],
                                    **({"error": {"message": attempt.message}} if attempt.message else {}),
                                    "stdout": [],
                                    "stderr": [],
                                    "retry": retry,
                                    "startTime": start.isoformat(timespec="milliseconds").replace(
                                        "+00:00", "Z"
                                    ),
                                    "attachments": [],
                                }
                                for retry, attempt in enumerate(attempts)
                            ],
                            "status": outcome,
                        }
                    )
                specs.append(
                    {
                        "title": f"{title} [flow:{test.flow}] @{test.risk}",
                        "ok": all(entry["status"] != "unexpected" for entry in spec_tests),
                        "tags": [test.risk],
                        "tests": spec_tests,
                        "id": _sha(file, title)[:20],
                        "file": file,
                        "line": 5 + 9 * spec_index,
                        "column": 3,
                    }
                )
            describe_suites.append(
                {
                    "title": describe,
                    "file": file,
                    "line": 3 + describe_index,
                    "column": 6,
                    "specs": specs,
                }
            )
        suites.append(
            {"title": file, "file": file, "column": 0, "line": 0, "specs": [], "suites": describe_suites}
        )
    return {
        "config": {
            "rootDir": f"{CI_WORKSPACE}/e2e",
            "version": "1.48.2",
            "workers": 2,
            "projects": [
                {"id": name, "name": name, "retries": 2, "testDir": f"{CI_WORKSPACE}/e2e", "timeout": 30000}
                for name in org.PLAYWRIGHT_PROJECTS
            ],
        },
        "suites": suites,
        "errors": [],
        "stats": {
            "startTime": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": 184000.5,
            **counts,
        },
    }


def _coverage_xml(plan: RunPlan, rng: random.Random) -> str:
    """coverage.py 7 XML (Cobertura dialect) with lines and branches per file."""
    packages = []
    total_valid = total_covered = total_branches = total_branches_covered = 0
    for component, (files, line_rate, branch_rate) in org.CODE.items():
        classes = []
        for path, lines in files.items():
            drift = rng.uniform(-0.02, 0.02)
            covered_lines = round(lines * min(1.0, max(0.0, line_rate + drift)))
            branch_count = lines // 5
            covered_branches = round(branch_count * min(1.0, max(0.0, branch_rate + drift)))
            line_elements = []
            branches_left = covered_branches
            for number in range(1, lines + 1):
                hit = 1 if number <= covered_lines else 0
                if number % 5 == 0:
                    took = 2 if branches_left >= 2 else branches_left
                    branches_left -= took
                    line_elements.append(
                        f'<line number="{number}" hits="{hit}" branch="true" '
                        f'condition-coverage="{took * 50}% ({took}/2)"/>'
                    )
                else:
                    line_elements.append(f'<line number="{number}" hits="{hit}"/>')
            classes.append(
                f'<class name="{Path(path).name}" filename="{path}" complexity="0" '
                f'line-rate="{covered_lines / lines:.4f}" branch-rate="0"><methods/><lines>'
                + "".join(line_elements)
                + "</lines></class>"
            )
            total_valid += lines
            total_covered += covered_lines
            total_branches += 2 * (lines // 5)
            total_branches_covered += covered_branches
        packages.append(
            f'<package name="shop.{component}" line-rate="0" branch-rate="0" complexity="0"><classes>'
            + "".join(classes)
            + "</classes></package>"
        )
    stamp = int(plan.started_at.timestamp() * 1000)
    return (
        '<?xml version="1.0" ?>\n'
        f'<coverage version="7.6.1" timestamp="{stamp}" lines-valid="{total_valid}" '
        f'lines-covered="{total_covered}" line-rate="{total_covered / total_valid:.4f}" '
        f'branches-covered="{total_branches_covered}" branches-valid="{total_branches}" '
        f'branch-rate="{total_branches_covered / total_branches:.4f}" complexity="0">\n'
        "\t<!-- Generated by coverage.py: https://coverage.readthedocs.io/en/7.6.1 -->\n"
        f"\t<sources><source>{CI_WORKSPACE}</source></sources>\n"
        "\t<packages>" + "".join(packages) + "</packages>\n</coverage>\n"
    )


def _plan_runs(day: date, rng: random.Random, end: date) -> list[RunPlan]:
    main_sha = _sha("main", day)
    plans = [
        RunPlan(
            run_id=f"nightly-{day:%Y%m%d}",
            sha=main_sha,
            branch="main",
            pipeline="nightly",
            blocking=False,
            started_at=datetime.combine(day, time(2, 0), UTC),
            outage=False,
        )
    ]
    previous: RunPlan | None = None
    for index in range(PRE_MERGE_RUNS_PER_DAY):
        outage = day == end - timedelta(days=INFRA_OUTAGE_DAY_OFFSET) and index == 2
        # The outage run retries the previous sha, so its failures sit next to passes on one sha:
        # only mass-failure protection keeps them from looking like flakes.
        if previous is not None and (outage or rng.random() < RETRY_SHA_CHANCE):
            sha, branch = previous.sha, previous.branch
        else:
            branch = f"feature/{rng.choice(list(org.TRAFFIC)[:12])}-{rng.randint(100, 999)}"
            sha = _sha(branch, day, index)
        previous = RunPlan(
            run_id=f"pr-{day:%Y%m%d}-{index + 1:02d}",
            sha=sha,
            branch=branch,
            pipeline="pre-merge",
            blocking=True,
            started_at=datetime.combine(day, time(8 + 2 * index, rng.randint(0, 59)), UTC),
            outage=outage,
        )
        plans.append(previous)
    return plans


def _write_run(run_dir: Path, plan: RunPlan, rng: random.Random, day: date) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    retries = 1 if plan.pipeline == "pre-merge" else 0  # pytest --reruns 1 in pre-merge only
    # A real regression on one branch: fails every attempt on that sha, then gets fixed.
    regression_branch = plan.branch.startswith("feature/cart") and plan.pipeline == "pre-merge"
    py_results = {
        test.nodeid: _attempts(
            test,
            rng,
            retries,
            plan.outage,
            regression_branch and test.nodeid.endswith("test_update_quantity"),
        )
        for test in org.PYTEST_TESTS
    }
    pw_results = {
        (test.nodeid, project): _attempts(test, rng, 2, False, False)
        for test in org.PLAYWRIGHT_TESTS
        for project in org.PLAYWRIGHT_PROJECTS
    }
    (run_dir / "junit.xml").write_text(_pytest_junit(plan, py_results), encoding="utf-8")
    (run_dir / "testintel-export.json").write_text(
        json.dumps(_plugin_export(plan, py_results)), encoding="utf-8"
    )
    (run_dir / "playwright-report.json").write_text(
        json.dumps(_playwright_report(plan, pw_results), ensure_ascii=False), encoding="utf-8"
    )
    (run_dir / "coverage.xml").write_text(_coverage_xml(plan, rng), encoding="utf-8")
    finished = plan.started_at + timedelta(minutes=rng.randint(9, 16))
    run_info = {
        "run_id": plan.run_id,
        "sha": plan.sha,
        "branch": plan.branch,
        "pipeline": plan.pipeline,
        "blocking": plan.blocking,
        "started_at": plan.started_at.isoformat().replace("+00:00", "Z"),
        "finished_at": finished.isoformat().replace("+00:00", "Z"),
    }
    if plan.pipeline == "pre-merge":
        component = rng.choice(list(org.CODE))
        run_info["changed_files"] = sorted(rng.sample(list(org.CODE[component][0]), 1))
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=2), encoding="utf-8")  # last: run complete


def _fill(template: str, rng: random.Random) -> str:
    values = {
        "id": lambda: str(rng.randint(1000, 99999)),
        "n": lambda: str(rng.randint(1, 5)),
        "word": lambda: rng.choice(org.WORDS),
        "hex": lambda: f"{rng.getrandbits(48):012x}",
        "uuid": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        # Planted secrets: the privacy test searches the warehouse for these and must not find them.
        "secret": lambda: f"PLANTEDtok{rng.getrandbits(32):08x}",
        "email": lambda: f"planted.user{rng.randint(1, 50)}%40example.com",
    }
    out = template
    for key, make in values.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", make(), 1)
    return out


def _access_log_lines(day: date, rng: random.Random) -> Iterator[str]:
    """NGINX `combined` plus `$request_time`, in time order."""
    flows = list(org.TRAFFIC)
    weights = [org.TRAFFIC[flow] for flow in flows]
    agents = [agent for agent, _ in org.USER_AGENTS]
    agent_weights = [weight for _, weight in org.USER_AGENTS]
    count = int(REQUESTS_PER_DAY * (0.8 if day.weekday() >= 5 else 1.0))
    seconds = sorted(rng.randrange(86400) for _ in range(count))
    for second in seconds:
        flow = rng.choices(flows, weights)[0]
        path = _fill(rng.choice(org.ROUTES[flow]), rng)
        method = "POST" if flow in ("cart", "checkout", "payment", "signup") and rng.random() < 0.4 else "GET"
        status = rng.choices([200, 304, 404, 500, 502], [0.9, 0.04, 0.03, 0.02, 0.01])[0]
        if flow == "health":
            status = 200
        latency = rng.lognormvariate(-2.8, 0.7) * (3 if flow in ("search", "payment") else 1)
        stamp = datetime.combine(day, time(), UTC) + timedelta(seconds=second)
        ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        agent = "kube-probe/1.29" if flow == "health" else rng.choices(agents, agent_weights)[0]
        yield (
            f'{ip} - - [{stamp:%d/%b/%Y:%H:%M:%S} +0000] "{method} {path} HTTP/1.1" {status} '
            f'{rng.randint(200, 90000)} "https://shop.example/" "{agent}" {latency:.3f}\n'
        )


WEB_BROWSERS = [("Chrome", 0.45), ("Safari", 0.35), ("Firefox", 0.1), ("Microsoft Edge", 0.1)]
_MOBILE_BROWSER = {"ios": "Mobile Safari", "android": "Chrome Mobile"}
PLANS = {"free": "starter-monthly", "pro": "growth-annual", "enterprise": "enterprise-annual"}
_USERS = random.Random("users")
_USER_TIER = {user: _weighted(_USERS, org.TIERS) for user in range(1, 901)}
_USER_PERSONA = {user: _weighted(_USERS, org.PERSONAS) for user in range(1, 901)}


def _mixpanel_events(day: date, rng: random.Random, events_by_flow: dict[str, list[str]]) -> Iterator[str]:
    """Mixpanel raw export: one JSON event per line, `time` in seconds."""
    flows = [flow for flow in org.TRAFFIC if events_by_flow.get(flow)]
    weights = [org.TRAFFIC[flow] for flow in flows]
    base = int(datetime.combine(day, time(), UTC).timestamp())
    for index in range(EVENTS_PER_DAY):
        flow = rng.choices(flows, weights)[0]
        user = rng.randint(1, 900)
        platform = rng.choices(["web", "ios", "android"], [0.6, 0.25, 0.15])[0]
        properties = {
            "time": base + rng.randrange(86400),
            "distinct_id": f"user-{user}",
            "$insert_id": _sha(day, index)[:16],
            "$os": {"web": "Mac OS X", "ios": "iOS", "android": "Android"}[platform],
            "$browser": _weighted(rng, WEB_BROWSERS) if platform == "web" else _MOBILE_BROWSER[platform],
            "mp_lib": {"web": "web", "ios": "swift", "android": "android"}[platform],
            "$app_version_string": "4.12.0" if platform != "web" else None,
            "plan": PLANS[_USER_TIER[user]],
            "customer_tier": _USER_TIER[user],
            "persona": _USER_PERSONA[user],
            "locale": rng.choice(["en-US", "en-GB", "de-DE", "sv-SE"]),
            "experiment_id": rng.choice([None, "exp-checkout-v2", "exp-search-ranking"]),
            "$email": f"planted.user{user}@example.com",
        }
        event = {"event": rng.choice(events_by_flow[flow]), "properties": properties}
        yield json.dumps(event, separators=(",", ":")) + "\n"


def _jira_issues(end: date, days: int) -> list[dict[str, object]]:
    """Every bug of the window with its created and (maybe) resolved day; stable per seed."""
    rng = random.Random(f"jira-{end}")
    issues = []
    number = 100
    for flow, (component, count) in org.DEFECTS.items():
        for _ in range(count):
            number += 1
            created = end - timedelta(days=rng.randint(0, max(1, days - 1)), hours=rng.randint(0, 20))
            resolved = created + timedelta(days=rng.randint(1, 12)) if rng.random() < 0.45 else None
            issues.append(
                {
                    "number": number,
                    "flow": flow,
                    "component": component,
                    "priority": rng.choices(["Highest", "High", "Medium", "Low"], [0.15, 0.35, 0.35, 0.15])[
                        0
                    ],
                    "created": datetime.combine(created, time(rng.randint(7, 18), rng.randint(0, 59)), UTC),
                    "resolved": (
                        datetime.combine(resolved, time(rng.randint(7, 18), 0), UTC) if resolved else None
                    ),
                    "summary": f"{component}: {rng.choice(_BUG_TITLES)}",
                }
            )
    return issues


_BUG_TITLES = [
    "error page after submitting the form",
    "wrong total shown on mobile Safari",
    "timeout under load",
    "double charge reported by customer",
    "spinner never stops",
    "validation message in wrong language",
]


def _jira_snapshot(issues: list[dict[str, object]], day: date) -> dict[str, object]:
    """A Jira Cloud `/rest/api/3/search/jql` page as of the end of `day`."""
    end_of_day = datetime.combine(day, time(23, 59), UTC)
    rendered = []
    for issue in issues:
        created: datetime = issue["created"]  # type: ignore[assignment]
        if created > end_of_day:
            continue
        resolved: datetime | None = issue["resolved"]  # type: ignore[assignment]
        done = resolved is not None and resolved <= end_of_day
        key = f"SHOP-{issue['number']}"
        rendered.append(
            {
                "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
                "id": str(10000 + int(issue["number"])),  # type: ignore[call-overload]
                "self": f"https://acme-shop.atlassian.net/rest/api/3/issue/{10000 + int(issue['number'])}",  # type: ignore[call-overload]
                "key": key,
                "fields": {
                    "summary": issue["summary"],
                    "issuetype": {"name": "Bug", "subtask": False},
                    "status": {
                        "name": "Done" if done else "In Progress",
                        "statusCategory": {
                            "key": "done" if done else "indeterminate",
                            "name": "Done" if done else "In Progress",
                        },
                    },
                    "priority": {"name": issue["priority"]},
                    "components": [{"name": issue["component"]}],
                    "labels": ["customer-reported", f"flow-{issue['flow']}"],
                    "created": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    "resolutiondate": resolved.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
                    if done and resolved
                    else None,
                    "customfield_10042": {"value": issue["flow"]},
                },
            }
        )
    return {"issues": rendered, "isLast": True}


def generate(landing: Path, days: int = 30, end: date | None = None, seed: int = 7) -> list[date]:
    """Write the landing folder for `days` days ending at `end` (default: yesterday, UTC)."""
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    window = [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    issues = _jira_issues(end, max(days, 30))
    events_by_flow = {flow.name: flow.events for flow in load_catalog().flows.flows}
    for day in window:
        rng = random.Random(f"{seed}-{day.isoformat()}")
        for plan in _plan_runs(day, rng, end):
            _write_run(landing / "ci" / day.isoformat() / plan.run_id, plan, rng, day)
        logs = landing / "access_logs" / day.isoformat()
        logs.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(logs / "access.log.gz", "wb", mtime=0) as handle:
            handle.write("".join(_access_log_lines(day, rng)).encode())
        mixpanel = landing / "mixpanel" / day.isoformat()
        mixpanel.mkdir(parents=True, exist_ok=True)
        (mixpanel / "export.jsonl").write_text(
            "".join(_mixpanel_events(day, rng, events_by_flow)), encoding="utf-8"
        )
        jira = landing / "jira" / day.isoformat()
        jira.mkdir(parents=True, exist_ok=True)
        (jira / "search-page-1.json").write_text(
            json.dumps(_jira_snapshot(issues, day), indent=1), encoding="utf-8"
        )
    return window
