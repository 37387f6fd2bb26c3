"""JUnit reader throughput and peak memory against junitparser and a bare stdlib iterparse.

Run: `.venv/bin/python benchmarks/bench_junit.py [--runs 5] [--testcases 200000]`

Generates benchmarks/.data/junit-<N>.xml (about 50 MB for 200,000 test cases in 2,000 suites,
the mix of docs/../shared/research/performance-anchors.md section 1: 89.4 % passed, 4.1 % failed
and 0.5 % errors with a message attribute and a 0.5-1.5 kB escaped traceback, 6 % skipped, about
10 % with <system-out>), then runs each contender in its own subprocess, in turn (A B C A B C ...),
so peaks are separate and noise spreads evenly:

- ours: `testintel_assets.parsers.junit.read_junit` -> the full ARTIFACT_RESULTS frame;
- junitparser: `JUnitXml.fromfile`, iterate suites and cases, one row (suite, classname, name,
  time, status, message) per case -- what users reach for, the named baseline;
- iterparse-count: `xml.etree.ElementTree.iterparse`, count <testcase> ends and clear -- the
  practical floor of a pure-Python reader, which builds no rows at all.

Prints the median in-process seconds, test cases per second, whole-process seconds and peak RSS
per contender, and our ratios against junitparser. The target (issue 3): at least 2.5x
junitparser's throughput, peak RSS at most twice the file size. The machine is 2 shared cores:
numbers are noisy, compare ratios from the same run rather than absolute figures.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

DATA = Path(__file__).resolve().parent / ".data"
CONTENDERS = ("ours", "junitparser", "iterparse-count")
SUITES = 2000


def generate(path: Path, testcases: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    per_suite = max(1, testcases // SUITES)
    frames = [
        f'  File "/ci/workspace/src/pkg/module_{i}.py", line {rng.randint(1, 900)}, in helper_{i}\n'
        f"    assert result == expected, f\"<{{result!r}}> & '{{expected!r}}'\"\n"
        for i in range(40)
    ]
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="bench">\n')
        written = 0
        for suite in range(SUITES):
            count = min(per_suite, testcases - written)
            if count <= 0:
                break
            out.write(f'  <testsuite name="pkg.suite_{suite}" tests="{count}" time="{count * 0.01:.3f}">\n')
            for case in range(count):
                name = f"test_case_{case}_behaves_as_documented[param-{rng.randint(0, 999)}-variant]"
                attrs = f'classname="tests.integration.shop.suite_{suite}.TestShopBehaviour{case % 7}"'
                attrs += f' name={quoteattr(name)} file="tests/integration/shop/test_suite_{suite}.py"'
                attrs += f' time="{rng.random():.4f}"'
                roll = rng.random()
                body = ""
                if roll < 0.041 or roll < 0.046:
                    tag = "failure" if roll < 0.041 else "error"
                    trace = "".join(rng.sample(frames, rng.randint(5, 13)))
                    message = f"AssertionError: expected <{rng.randint(0, 99)}> & got '{rng.randint(0, 99)}'"
                    body = (
                        f'<{tag} message={quoteattr(message)} type="AssertionError">{escape(trace)}</{tag}>'
                    )
                elif roll < 0.106:
                    body = '<skipped type="pytest.skip" message="not on this platform"/>'
                if rng.random() < 0.10:
                    body += "<system-out>captured stdout line &amp; more\nsecond line</system-out>"
                out.write(
                    f"    <testcase {attrs}>{body}</testcase>\n" if body else f"    <testcase {attrs}/>\n"
                )
            out.write("  </testsuite>\n")
            written += count
        out.write("</testsuites>\n")


def _ours(path: Path) -> int:
    from testintel_assets.parsers.junit import read_junit

    return read_junit(path).results.height


def _junitparser(path: Path) -> int:
    from junitparser import Error, Failure, JUnitXml, Skipped

    rows = []
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            status, message = "passed", None
            for result in case.result:
                if isinstance(result, Error | Failure):
                    status, message = type(result).__name__.lower(), result.message
                elif isinstance(result, Skipped) and status == "passed":
                    status, message = "skipped", result.message
            rows.append((suite.name, case.classname, case.name, case.time, status, message))
    return len(rows)


def _iterparse_count(path: Path) -> int:
    import xml.etree.ElementTree as ET

    count = 0
    for _event, element in ET.iterparse(str(path), events=("end",)):
        if element.tag == "testcase":
            count += 1
            element.clear()
    return count


def child(contender: str, path: Path) -> None:
    work = {"ours": _ours, "junitparser": _junitparser, "iterparse-count": _iterparse_count}[contender]
    started = time.perf_counter()
    rows = work(path)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--runs", type=int, default=5)
    args.add_argument("--testcases", type=int, default=200_000)
    args.add_argument("--child", choices=CONTENDERS)
    args.add_argument("--file", type=Path)
    options = args.parse_args()
    if options.child:
        child(options.child, options.file)
        return
    DATA.mkdir(exist_ok=True)
    path = DATA / f"junit-{options.testcases}.xml"
    if not path.exists():
        generate(path, options.testcases)
    size_mib = path.stat().st_size / 2**20
    print(f"input: {path} ({size_mib:.1f} MiB, {options.testcases} test cases), {options.runs} runs each")
    measured: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
    for _ in range(options.runs):
        for name in CONTENDERS:
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--file", str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["whole"] = time.perf_counter() - started
            measured[name].append(result)
    print(f"{'contender':<16}{'rows':>9}{'in-process s':>14}{'cases/s':>11}{'whole s':>10}{'peak MiB':>10}")
    summary = {}
    for name, runs in measured.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        whole = statistics.median(r["whole"] for r in runs)
        peak = max(r["peak_mib"] for r in runs)
        summary[name] = (seconds, whole, peak)
        rate = options.testcases / seconds
        print(f"{name:<16}{runs[0]['rows']:>9}{seconds:>14.3f}{rate:>11,.0f}{whole:>10.3f}{peak:>10.0f}")
    ours, baseline, floor = summary["ours"], summary["junitparser"], summary["iterparse-count"]
    print(
        f"ours vs junitparser: {baseline[0] / ours[0]:.2f}x throughput in-process, "
        f"{baseline[1] / ours[1]:.2f}x whole process (target >= 2.5x); "
        f"peak {ours[2]:.0f} MiB = {ours[2] / size_mib:.2f}x the file (target <= 2x)"
    )
    print(
        f"ours vs bare iterparse count: {floor[0] / ours[0]:.2f}x in-process, {floor[1] / ours[1]:.2f}x whole"
    )


if __name__ == "__main__":
    main()
