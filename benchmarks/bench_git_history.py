"""code_changes from git history: our reader against git's own per-file answer.

Generates a repository under benchmarks/.data/ with `git fast-import` (commits on a main line with
feature branches merged back, a few files per commit), then times, each contender in its own
subprocess so peak memory (ru_maxrss) is its own:

- baseline `git-log-per-file`: the exact answer the obvious way, one `git log --format=%H -- <file>`
  per file (run on a sample of files and extrapolated to all of them);
- `git-log-numstat`: `git log --numstat` alone, the floor any reader of git history pays;
- `read_git_changes`: ours (git log + git diff-tree + history simplification in Python + Polars).

It also checks that our per-file counts equal git's on the sampled files.
Usage: .venv/bin/python benchmarks/bench_git_history.py [--commits 20000] [--files 2000]
The machine is shared (2 cores, other jobs running): expect noise of tens of percent.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data" / "git_history"
SAMPLE = 60


def generate(repo: Path, commits: int, files: int, seed: int = 5) -> None:
    marker = repo / ".generated.json"
    wanted = {"commits": commits, "files": files, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    rng = random.Random(seed)
    paths = [
        f"shop/{rng.choice(['cart', 'payments', 'search', 'orders', 'auth'])}/m{i}.py" for i in range(files)
    ]
    lines = []
    when = 1_700_000_000
    main_tip = feature_tip = None
    for number in range(commits):
        when += rng.randint(60, 3600)
        mark = number + 1
        on_feature = feature_tip is not None and rng.random() < 0.4
        ref = "refs/heads/feature" if on_feature else "refs/heads/main"
        lines += [f"commit {ref}", f"mark :{mark}", f"committer Dev <dev@shop.example> {when} +0000"]
        message = f"change {number}"
        lines += [f"data {len(message)}", message]
        parent = feature_tip if on_feature else main_tip
        if parent:
            lines.append(f"from :{parent}")
        merge = not on_feature and feature_tip is not None and rng.random() < 0.15
        if merge:
            lines.append(f"merge :{feature_tip}")
        for path in rng.sample(paths, rng.randint(1, 4)):
            body = "".join(f"line {rng.random():.6f}\n" for _ in range(rng.randint(1, 30)))
            lines += ["M 100644 inline " + path, f"data {len(body.encode())}", body.rstrip("\n")]
        lines.append("")
        if on_feature:
            feature_tip = mark
        else:
            main_tip = mark
            if merge:
                feature_tip = None
            elif feature_tip is None and rng.random() < 0.1:
                feature_tip = mark  # branch off here: the next feature commits start from main
                lines += ["reset refs/heads/feature", f"from :{mark}", ""]
    stream = "\n".join(lines) + "\n"
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=stream.encode(), check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)
    marker.write_text(json.dumps(wanted))


def _child(contender: str, repo: Path) -> None:
    """Run one contender and print its JSON result (seconds, peak KiB, rows or counts); imports are
    not timed (the resources package loads Dagster)."""
    result: dict[str, object] = {}
    if contender == "read_git_changes":
        from resources.git import read_git_changes

        start = time.perf_counter()
        changes = read_git_changes(repo, date(2000, 1, 1), date(2099, 1, 1))
        result["rows"] = changes.height
        result["counts"] = dict(changes.group_by("file").len().iter_rows())
    elif contender == "git-log-numstat":
        start = time.perf_counter()
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "--numstat", "-z", "--format=%H"], capture_output=True
        )
        result["bytes"] = len(out.stdout)
    else:
        start = time.perf_counter()
        files = sorted(json.loads((repo / ".sample.json").read_text()))
        result["counts"] = {
            path: len(
                subprocess.run(
                    ["git", "-C", str(repo), "log", "--format=%H", "--", path], capture_output=True, text=True
                ).stdout.split()
            )
            for path in files
        }
        result["sampled"] = len(files)
    result["seconds"] = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_kib"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children)
    print(json.dumps(result))


def _run(contender: str, repo: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", contender, "--repo", str(repo)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=20000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--child", default="")
    parser.add_argument("--repo", type=Path, default=DATA)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.repo)
        return
    started = time.perf_counter()
    generate(args.repo, args.commits, args.files)
    print(
        f"repository: {args.commits} commits, {args.files} files ({time.perf_counter() - started:.1f} s to build)"
    )
    ours = _run("read_git_changes", args.repo)
    counts: dict[str, int] = ours["counts"]  # type: ignore[assignment]
    sample = random.Random(1).sample(sorted(counts), min(SAMPLE, len(counts)))
    (args.repo / ".sample.json").write_text(json.dumps(sample))
    floor = _run("git-log-numstat", args.repo)
    baseline = _run("git-log-per-file", args.repo)
    per_file = float(baseline["seconds"]) / int(baseline["sampled"])  # type: ignore[arg-type]
    baseline_all = per_file * len(counts)
    agree = all(counts.get(p, 0) == n for p, n in baseline["counts"].items())  # type: ignore[union-attr]
    rows = int(ours["rows"])  # type: ignore[arg-type]
    print(f"{'contender':<22}{'seconds':>10}{'rows/s':>12}{'peak MiB':>10}")
    for name, seconds, peak in [
        ("git-log-per-file (*)", baseline_all, baseline["peak_kib"]),
        ("git-log-numstat", floor["seconds"], floor["peak_kib"]),
        ("read_git_changes", ours["seconds"], ours["peak_kib"]),
    ]:
        print(f"{name:<22}{float(seconds):>10.2f}{rows / float(seconds):>12,.0f}{int(peak) / 1024:>10.0f}")
    print(f"(*) {baseline['sampled']} files timed, extrapolated to {len(counts)} files")
    print(f"ratio baseline / ours: {baseline_all / float(ours['seconds']):.1f}x faster")
    print(f"ours / git-log-numstat: {float(ours['seconds']) / float(floor['seconds']):.1f}x the floor")
    print(f"per-file counts equal git log's on the {len(sample)} sampled files: {agree}")


if __name__ == "__main__":
    main()
