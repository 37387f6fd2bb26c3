"""Access-log reader vs the seed's naive Python loop vs `wc -l`, on 5 million NGINX combined lines.

    .venv/bin/python benchmarks/bench_access_logs.py [--lines 5000000] [--rounds 3]

Generates benchmarks/.data/nginx-combined-<n>.log once (NGINX `combined` plus `$request_time`, 30 route
templates with ids, ~700 user agents, 50,000 visitors), then runs each contender in its own subprocess,
alternating A B C A B C ..., and prints per round the wall and CPU seconds of each with the load
average, the reader's ratio against the naive loop pair by pair (same round), and at the end the
median wall time, lines per second, CPU seconds and peak RSS of each. Ratios are given for the whole
process and in-process: the Python children also time their work after start-up and imports (the
reader's imports of Polars and the catalog take about 0.4 s, the naive loop's almost nothing), as
bench_junit and bench_coverage and the anchors' in-process figures do.

- naive: `for line in file`, the seed's regex, a dict of (route, status) counts (what the issue calls
  the seed's approach; it extracts only the raw route and the status);
- reader: testintel's `read_access_logs` (normalised route, flow, traffic class, platform and browser
  from the user agent, status, p95 latency, salted visitor sketches), chunked, bounded memory;
- wc -l: the I/O floor.
The machine is shared: wall times are noisy, which is why each round pairs the contenders and prints
the load average before it. The reader uses both cores, the naive loop one: under load the wall
ratio falls towards the CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"

NAIVE = r"""
import re, sys, time
started = time.perf_counter()
pattern = re.compile(r'"(GET|POST) (?P<route>[^ ]+) [^"]+" (?P<status>\d{3})')
counts = {}
with open(sys.argv[1], encoding="utf-8", errors="replace") as handle:
    for line in handle:
        match = pattern.search(line)
        if match:
            key = (match.group("route"), match.group("status"))
            counts[key] = counts.get(key, 0) + 1
print(sum(counts.values()), time.perf_counter() - started)
"""

READER = r"""
import sys, time
from datetime import date
from pathlib import Path
from testintel_assets.configuration import load_catalog
from testintel_assets.parsers.access_logs import read_access_logs
started = time.perf_counter()
parsed = read_access_logs([Path(sys.argv[1])], date(2025, 3, 2), load_catalog(), salt=b"benchmark")
print(parsed.events["events"].sum() + parsed.rejected["lines"].sum(), time.perf_counter() - started)
"""

TEMPLATES = [
    "/",
    "/login",
    "/logout",
    "/signup",
    "/search?q={w}",
    "/api/search?q={w}&page={n}",
    "/products/{n}",
    "/api/products/{n}",
    "/api/products/{n}/reviews",
    "/cart",
    "/api/cart",
    "/api/cart/items/{n}",
    "/checkout",
    "/checkout/shipping",
    "/api/checkout/confirm",
    "/api/orders",
    "/api/orders/{n}",
    "/api/orders/{n}/invoice",
    "/api/payments/{u}",
    "/api/payments/{u}/confirm",
    "/account",
    "/account/orders/{n}",
    "/api/users/{n}",
    "/api/users/{n}/addresses",
    "/static/app.{h}.js",
    "/static/style.{h}.css",
    "/healthz",
    "/api/uploads/{u}",
    "/admin/reports/{n}",
    "/password/reset?token={h}",
]


def _user_agents() -> list[str]:
    agents = []
    for version in range(60, 140):
        for system in (
            "Windows NT 10.0; Win64; x64",
            "Macintosh; Intel Mac OS X 10_15_7",
            "X11; Linux x86_64",
        ):
            agents.append(
                f"Mozilla/5.0 ({system}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{version}.0.{version * 31}.{version % 7} Safari/537.36"
            )
            agents.append(f"Mozilla/5.0 ({system}; rv:{version}.0) Gecko/20100101 Firefox/{version}.0")
    for major in range(10, 18):
        for minor in range(7):
            agents.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
            agents.append(f"Shop/{major}.{minor}.0 (iPhone; iOS {major}.{minor}; Scale/3.00)")
            agents.append(f"okhttp/4.{major}.{minor}")
            agents.append(
                f"Mozilla/5.0 (Linux; Android {major - 4}; SM-G99{minor}B) AppleWebKit/537.36 "
                f"(KHTML, like Gecko) Chrome/{major * 7}.0.0.0 Mobile Safari/537.36"
            )
    return [
        *agents,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "kube-probe/1.29",
        "curl/8.5.0",
        "python-requests/2.31.0",
    ]


def generate(path: Path, lines: int) -> None:
    """Vectorised generation (seconds, not minutes): columns picked from pools by hashed row index.

    Runs in a child process (`--generate`), so the parent that measures stays small: a forked child's
    peak RSS starts from its parent's.
    """
    import polars as pl

    rng = random.Random(7)
    words = ["shoes", "red+dress", "laptop", "phone+case", "gift"]
    pool = [
        template.format(
            w=rng.choice(words),
            n=rng.randint(1, 2000),
            h=f"{rng.getrandbits(48):012x}",
            u=f"3f2504e0-4f89-11d3-9a0c-0305e82c{rng.randint(0, 999):04x}",
        )
        for template in TEMPLATES
        for _ in range(600 if "{" in template else 1)
    ]
    agents = _user_agents()
    ips = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(50_000)
    ]
    start = datetime(2025, 3, 2, tzinfo=UTC)
    times = [
        (start + timedelta(seconds=second)).strftime("%d/%b/%Y:%H:%M:%S +0000") for second in range(86_400)
    ]
    index = pl.int_range(0, lines, eager=True)

    def pick(values: list[str], seed: int, by: pl.Series | None = None) -> pl.Series:
        return pl.Series(values).gather((by if by is not None else index).hash(seed) % len(values))

    visitor = index.hash(1) % len(ips)
    frame = pl.DataFrame(
        {
            "ip": pl.Series(ips).gather(visitor),
            "method": pick(["GET"] * 70 + ["POST"] * 25 + ["PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"], 2),
            "target": pick(pool, 3),
            "status": pick(
                ["200"] * 80 + ["304"] * 6 + ["404"] * 5 + ["201"] * 4 + ["500", "502", "503", "401", "403"],
                4,
            ),
            "agent": pl.Series(agents).gather(visitor.hash(5) % len(agents)),
            "time": pl.Series(times).gather(index * 86_400 // lines),
            "bytes": (index.hash(6) % 50_000).cast(pl.String),
            "seconds": (-((index.hash(7) % 99_999 + 1).cast(pl.Float64) / 100_000).log() / 8)
            .round(3)
            .cast(pl.String),
        }
    )
    line = pl.concat_str(
        [
            pl.col("ip"),
            pl.lit(" - - ["),
            pl.col("time"),
            pl.lit('] "'),
            pl.col("method"),
            pl.lit(" "),
            pl.col("target"),
            pl.lit(' HTTP/1.1" '),
            pl.col("status"),
            pl.lit(" "),
            pl.col("bytes"),
            pl.lit(' "-" "'),
            pl.col("agent"),
            pl.lit('" '),
            pl.col("seconds"),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.select(line.alias("line")).write_csv(path, include_header=False, quote_style="never")


def run(command: list[str], timed: bool) -> dict[str, float | str]:
    """Wall time, CPU seconds and peak RSS of one child process (os.wait4 reports the child's own usage);
    `timed` children also print the seconds of their work after start-up and imports."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {stderr.read().decode(errors='replace')[-2000:]}")
        output, *rest = stdout.read().decode().strip().split()
    return {
        "wall": wall,
        "work": float(rest[0]) if timed else wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "output": output,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = DATA / f"nginx-combined-{args.lines}.log"
    if args.generate:
        generate(path, args.lines)
        return
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", "--lines", str(args.lines)], check=True)
        print(
            f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
    naive, reader = "naive Python loop (seed regex, dict counts)", "testintel read_access_logs"
    contenders = {
        "wc -l (I/O floor)": ["wc", "-l", str(path)],
        naive: [sys.executable, "-c", NAIVE, str(path)],
        reader: [sys.executable, "-c", READER, str(path)],
    }
    results: dict[str, list[dict[str, float | str]]] = {name: [] for name in contenders}
    pairs: list[dict[str, float]] = []
    print(f"{args.lines:,} lines, {args.rounds} rounds, machine: {os.cpu_count()} cores, shared")
    print(
        f"{'round':>5s} {'load 1m':>8s} {'naive wall/cpu s':>17s} {'reader wall/cpu s':>18s} "
        f"{'naive/reader wall; cpu; in-process':>35s}"
    )
    for round_number in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        for name, command in contenders.items():
            results[name].append(run(command, timed=name != "wc -l (I/O floor)"))
        slow, fast = results[naive][-1], results[reader][-1]
        pair = {
            "load": load,
            "wall_ratio": float(slow["wall"]) / float(fast["wall"]),
            "cpu_ratio": float(slow["cpu"]) / float(fast["cpu"]),
            "work_ratio": float(slow["work"]) / float(fast["work"]),
        }
        pairs.append(pair)
        print(
            f"{round_number:5d} {load:8.2f} {float(slow['wall']):8.2f}/{float(slow['cpu']):<8.2f} "
            f"{float(fast['wall']):9.2f}/{float(fast['cpu']):<8.2f} "
            f"{pair['wall_ratio']:15.2f}; {pair['cpu_ratio']:.2f}; {pair['work_ratio']:.2f}"
        )
    naive_wall = statistics.median(float(r["wall"]) for r in results[naive])
    naive_cpu = statistics.median(float(r["cpu"]) for r in results[naive])
    naive_work = statistics.median(float(r["work"]) for r in results[naive])
    print(
        f"{'contender':46s} {'wall s':>8s} {'lines/s':>12s} {'cpu s':>8s} {'peak MiB':>9s} "
        f"{'naive/x wall':>13s} {'naive/x cpu':>12s} {'in-process s':>13s} {'lines/s':>12s} {'naive/x':>8s}"
    )
    summary: dict[str, object] = {}
    for name, runs in results.items():
        wall = statistics.median(float(r["wall"]) for r in runs)
        cpu = statistics.median(float(r["cpu"]) for r in runs)
        work = statistics.median(float(r["work"]) for r in runs)
        peak = max(float(r["peak_mib"]) for r in runs)
        print(
            f"{name:46s} {wall:8.2f} {args.lines / wall:12,.0f} {cpu:8.2f} {peak:9.0f} "
            f"{naive_wall / wall:13.2f} {naive_cpu / cpu if cpu else float('inf'):12.2f} "
            f"{work:13.2f} {args.lines / work:12,.0f} {naive_work / work:8.2f}"
        )
        summary[name] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "work_s": work,
            "peak_mib": peak,
            "lines_per_s": args.lines / wall,
            "outputs": sorted({str(r["output"]) for r in runs}),
        }
    for label, key in (("whole process", "wall_ratio"), ("in-process (after imports)", "work_ratio")):
        ratios = [pair[key] for pair in pairs]
        print(
            f"reader vs naive, pair by pair, {label}: x{statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
        )
    print(f"cpu: x{statistics.median(pair['cpu_ratio'] for pair in pairs):.2f}")
    summary["pairs"] = pairs
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
