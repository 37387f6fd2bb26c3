"""Coverage readers against a bare streaming parse, on a generated ~30 MB Cobertura and JaCoCo report.

    .venv/bin/python benchmarks/bench_coverage.py [--mb 30] [--repeat 3]

Contenders, each in its own subprocess so peak RSS is its own:
- baseline: `xml.etree.ElementTree.iterparse` (the C parser) counting end events and clearing
  each element, with no other work: the bare streaming parse the issue names;
- ours: `read_cobertura` / `read_jacoco`, i.e. defused expat, per-line keys, Polars rows.
Prints wall and CPU seconds (medians of --repeat, contenders alternating), MB/s, source files/s,
peak RSS (and how much of it is the interpreter plus imports, measured before parsing), and the
ratios to the baseline. CPU time is the steadier measure while other jobs share the machine. The machine is shared (2 cores, other jobs running): expect noise of 10-20%.
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
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"


# ------------------------------------------------------------------------------ generators
def _write_cobertura(path: Path, target_bytes: int, rng: random.Random) -> int:
    files = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" ?>\n<coverage line-rate="0.5" branch-rate="0.5" version="1.9">\n')
        out.write("<sources><source>/home/runner/work/shop/shop</source></sources>\n<packages>\n")
        package = 0
        while out.tell() < target_bytes:
            out.write(f'<package name="pkg{package}" line-rate="0.5"><classes>\n')
            for _ in range(20):
                name = f"shop/pkg{package}/module{files}.py"
                out.write(f'<class name="m{files}" filename="{name}" line-rate="0.5"><methods>\n')
                lines = []
                for method in range(rng.randint(3, 8)):
                    body = []
                    for number in range(method * 40 + 1, method * 40 + rng.randint(5, 35)):
                        hits = rng.choice((0, 1, 3))
                        if rng.random() < 0.15:
                            covered = rng.randint(0, 2)
                            body.append(
                                f'<line number="{number}" hits="{hits}" branch="true" '
                                f'condition-coverage="{covered * 50}% ({covered}/2)"/>'
                            )
                        else:
                            body.append(f'<line number="{number}" hits="{hits}" branch="false"/>')
                    out.write(f'<method name="f{method}" signature="()" line-rate="0.5"><lines>')
                    out.write("".join(body) + "</lines></method>\n")
                    lines += body
                out.write("</methods><lines>" + "\n".join(lines) + "</lines></class>\n")
                files += 1
            out.write("</classes></package>\n")
            package += 1
        out.write("</packages></coverage>\n")
    return files


def _write_jacoco(path: Path, target_bytes: int, rng: random.Random) -> int:
    files = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
        out.write('<!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd">\n')
        out.write('<report name="bench"><sessioninfo id="a" start="1" dump="2"/>\n')
        package = 0
        while out.tell() < target_bytes:
            out.write(f'<package name="com/shop/pkg{package}">\n')
            sources = []
            for _ in range(20):
                name = f"Module{files}"
                out.write(f'<class name="com/shop/pkg{package}/{name}" sourcefilename="{name}.java">\n')
                lines = []
                for method in range(rng.randint(3, 8)):
                    covered = rng.randint(0, 1)
                    out.write(
                        f'<method name="m{method}" desc="()V" line="{method * 40 + 1}">'
                        f'<counter type="LINE" missed="{1 - covered}" covered="{covered}"/>'
                        f'<counter type="METHOD" missed="{1 - covered}" covered="{covered}"/></method>\n'
                    )
                    for number in range(method * 40 + 1, method * 40 + rng.randint(5, 35)):
                        ci = rng.choice((0, 3, 7))
                        mb, cb = (rng.randint(0, 2), rng.randint(0, 2)) if rng.random() < 0.15 else (0, 0)
                        lines.append(
                            f'<line nr="{number}" mi="{3 - min(ci, 3)}" ci="{ci}" mb="{mb}" cb="{cb}"/>'
                        )
                out.write('<counter type="CLASS" missed="0" covered="1"/></class>\n')
                sources.append(
                    f'<sourcefile name="{name}.java">\n'
                    + "\n".join(lines)
                    + '\n<counter type="LINE" missed="1" covered="1"/></sourcefile>\n'
                )
                files += 1
            out.write("".join(sources) + "</package>\n")
            package += 1
        out.write('<counter type="LINE" missed="1" covered="1"/></report>\n')
    return files


# ------------------------------------------------------------------------------ contenders
def _baseline(path: Path) -> int:
    import xml.etree.ElementTree as ET

    count = 0
    for _event, element in ET.iterparse(path, events=("end",)):
        count += 1
        element.clear()
    return count


def _ours(kind: str) -> Callable[[Path], int]:
    from testintel_assets.parsers import coverage

    reader = coverage.read_cobertura if kind == "cobertura" else coverage.read_jacoco
    return lambda path: reader(path).coverage.height


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(contender: str, kind: str, path: Path) -> None:
    # Imports (polars, pyarrow: ~0.4 s, ~60 MiB) are a once-per-process cost, outside the timing.
    parse = _baseline if contender == "baseline" else _ours(kind)
    imported_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    result = parse(path)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "result": result,
                "peak_mib": peak_kib / 1024,
                "import_mib": imported_kib / 1024,
            }
        )
    )


def _run(contender: str, kind: str, path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", contender, kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child[:2], Path(args.child[2]))
        return
    DATA.mkdir(exist_ok=True)
    print("shared 2-core machine: numbers are noisy (10-20%); medians of", args.repeat, "runs\n")
    header = (
        f"{'report':<10} {'contender':<9} {'wall s':>7} {'cpu s':>6} {'MB/s':>6} {'files/s':>8} "
        f"{'peak MiB':>9} {'imports':>8} {'wall ratio':>10} {'cpu ratio':>9}"
    )
    print(header)
    for kind, writer in (("cobertura", _write_cobertura), ("jacoco", _write_jacoco)):
        path = DATA / f"bench-{kind}-{args.mb:g}mb.xml"
        files_path = path.with_suffix(".files")
        if not path.exists() or not files_path.exists():
            files_path.write_text(str(writer(path, int(args.mb * 1e6), random.Random(7))))
        files = int(files_path.read_text())
        size_mb = path.stat().st_size / 1e6
        # Contenders alternate (A B A B ...) so that load from other jobs hits both alike.
        runs: dict[str, list[dict]] = {"baseline": [], "ours": []}
        for _ in range(args.repeat):
            for contender in runs:
                runs[contender].append(_run(contender, kind, path))
        results = {
            contender: {
                "wall": statistics.median(run["wall"] for run in measured),
                "cpu": statistics.median(run["cpu"] for run in measured),
                "peak": max(run["peak_mib"] for run in measured),
                "import": max(run["import_mib"] for run in measured),
                "result": measured[0]["result"],
            }
            for contender, measured in runs.items()
        }
        if results["ours"]["result"] != files:
            raise SystemExit(f"{kind}: ours returned {results['ours']['result']} files, generated {files}")
        for contender, result in results.items():
            base = results["baseline"]
            print(
                f"{kind:<10} {contender:<9} {result['wall']:7.2f} {result['cpu']:6.2f} "
                f"{size_mb / result['wall']:6.1f} {files / result['wall']:8.0f} {result['peak']:9.0f} "
                f"{result['import']:8.0f} {result['wall'] / base['wall']:10.2f} {result['cpu'] / base['cpu']:9.2f}"
            )
        print(f"{'':<10} ({size_mb:.1f} MB, {files} source files)")


if __name__ == "__main__":
    main()
