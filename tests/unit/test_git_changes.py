"""Code changes from real git histories: per-file commit counts equal `git log -- <file>`'s own."""

from __future__ import annotations

import os
import random
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from resources.git import GitError, GitRepository, read_git_changes
from testintel_assets import schemas
from testintel_assets.configuration import load_catalog
from testintel_assets.parsers import ArtifactRejected
from testintel_assets.parsers.git_log import changes_from_runs, parse_git_history

REPO_ROOT = Path(__file__).resolve().parents[2]
FAR_PAST, FAR_FUTURE = date(2000, 1, 1), date(2099, 1, 1)


class Repo:
    """A throwaway repository whose commits carry chosen dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = datetime(2025, 3, 1, 9, tzinfo=UTC)
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@shop.example")
        self.git("config", "user.name", "Dev")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, check: bool = True) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_DATE": self.clock.isoformat(),
            "GIT_COMMITTER_DATE": self.clock.isoformat(),
        }
        done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True, env=env)
        if check and done.returncode:
            raise AssertionError(done.stderr)
        return done.stdout

    def write(self, name: str, text: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())

    def commit(self, message: str, hours: int = 5) -> str:
        self.clock += timedelta(hours=hours)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def git_log_count(repo: Path, path: str, since: date | None = None, until: date | None = None) -> int:
    """The independent count: what `git log --format=%H -- <file> | wc -l` says."""
    args = ["git", "-C", str(repo), "log", "--format=%H"]
    if since:
        args.append(f"--since={since.isoformat()}T00:00:00+00:00")
    if until:
        args.append(f"--until={until.isoformat()}T23:59:59+00:00")
    return len(subprocess.run([*args, "--", path], capture_output=True, text=True, check=True).stdout.split())


def every_path(repo: Path) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--all", "--format=", "--name-only", "-z", "--no-renames"],
        capture_output=True,
        check=True,
    ).stdout
    return {p.decode() for p in out.replace(b"\n", b"").split(b"\0") if p}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """Several commits over days: renames, binary, odd names, an empty commit, and three kinds of
    merge (a combination of both sides, an "ours" resolution, a cherry-pick merged back)."""
    repo = Repo(tmp_path_factory.mktemp("git") / "shop")
    repo.write("shop/cart/cart.py", "a\nb\nc\n")
    repo.write("shop/payments/pay.py", "x\n")
    repo.write("README.md", "shop\n")
    repo.commit("root", hours=0)
    repo.write("shop/cart/cart.py", "a\nb\nc\nd\n")
    repo.write("docs/spaced name ü.md", "hello\n")
    repo.write("web/src/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    repo.commit("cart and assets", hours=30)
    repo.git("mv", "shop/payments/pay.py", "shop/payments/payment.py")
    repo.write("shop/payments/payment.py", "x\ny\n")
    repo.commit("rename payment module", hours=30)
    repo.commit("empty commit", hours=2)
    # side branch, merged back with main's changes on both sides (a combination)
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("shop/cart/cart.py", "a\nb\nc\nd\nfeature\n")
    repo.write("shop/search/find.py", "q\n")
    repo.commit("feature work", hours=20)
    repo.git("checkout", "-q", "main")
    repo.write("shop/cart/cart.py", "main\na\nb\nc\nd\n")
    repo.commit("main work", hours=3)
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    # a hotfix made on a release branch and cherry-picked to main, then the branch merged back
    repo.git("checkout", "-q", "-b", "release")
    repo.write("shop/payments/payment.py", "x\ny\nhotfix\n")
    fix = repo.commit("hotfix on release", hours=24)
    repo.write("shop/orders/orders.py", "o\n")
    repo.commit("release notes", hours=1)
    repo.git("checkout", "-q", "main")
    repo.clock += timedelta(hours=1)
    repo.git("cherry-pick", fix)
    repo.clock += timedelta(hours=1)
    repo.git("merge", "-q", "--no-ff", "-m", "merge release", "release")
    # an experiment merged with -s ours: its change to the README never reaches main
    repo.git("checkout", "-q", "-b", "experiment")
    repo.write("README.md", "shop experiment\n")
    repo.commit("experiment", hours=30)
    repo.git("checkout", "-q", "main")
    repo.clock += timedelta(hours=2)
    repo.git("merge", "-q", "-s", "ours", "-m", "merge experiment (ours)", "experiment")
    repo.write("shop/cart/cart.py", "main\na\nb\nc\nd\nfeature\nlast\n")
    repo.commit("last cart change", hours=40)
    return repo


def test_commit_counts_per_file_equal_git_logs_own(history: Repo) -> None:
    changes = read_git_changes(history.path, FAR_PAST, FAR_FUTURE)
    counts = dict(changes.group_by("file").len().iter_rows())
    paths = every_path(history.path)
    assert {"docs/spaced name ü.md", "shop/payments/pay.py", "web/src/logo.png"} <= paths
    assert {path: counts.get(path, 0) for path in paths} == {
        path: git_log_count(history.path, path) for path in paths
    }
    # the cases that need git's per-path history simplification, spelled out
    assert counts["README.md"] == 1  # the "ours" merge kept main's README: the experiment is not its history
    assert counts["shop/payments/payment.py"] == 2  # rename, cherry-pick; the release-branch original is not


@pytest.mark.parametrize(
    ("since", "until"), [(date(2025, 3, 3), date(2025, 3, 6)), (date(2025, 3, 6), FAR_FUTURE)]
)
def test_windows_match_git_log_since_until(history: Repo, since: date, until: date) -> None:
    changes = read_git_changes(history.path, since, until)
    counts = dict(changes.group_by("file").len().iter_rows())
    assert changes["day"].is_between(since, until).all()
    assert {p: counts.get(p, 0) for p in every_path(history.path)} == {
        p: git_log_count(history.path, p, since, until) for p in every_path(history.path)
    }


def test_lines_and_binary_files(history: Repo) -> None:
    changes = read_git_changes(history.path, FAR_PAST, FAR_FUTURE)
    logo = changes.filter(pl.col("file") == "web/src/logo.png").row(0, named=True)
    assert logo["lines_added"] is None and logo["lines_deleted"] is None
    for row in changes.filter(pl.col("lines_added").is_not_null()).iter_rows(named=True):
        numstat = subprocess.run(
            [
                "git",
                "-C",
                str(history.path),
                "show",
                "--no-renames",
                "--numstat",
                "--format=",
                row["sha"],
                "--",
                row["file"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\t")
        assert (row["lines_added"], row["lines_deleted"]) == (int(numstat[0]), int(numstat[1]))
    merges = changes.filter(pl.col("sha").is_in(history.git("log", "--merges", "--format=%H").split()))
    assert merges["file"].to_list() == ["shop/cart/cart.py"]  # the one merge that combined both sides
    assert merges["lines_added"].null_count() == 1


def test_components_come_from_the_catalogue(history: Repo) -> None:
    changes = GitRepository(path=str(history.path)).code_changes(FAR_PAST, FAR_FUTURE, load_catalog())
    components = dict(zip(changes["file"], changes["component"], strict=False))
    assert components["shop/cart/cart.py"] == "cart"
    assert components["shop/payments/payment.py"] == "payments"
    assert components["README.md"] is None
    assert changes.schema == schemas.CODE_CHANGES
    assert set(changes["source"]) == {"git"}


def test_this_repository_matches_git_log(tmp_path: Path) -> None:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    changes = read_git_changes(REPO_ROOT, FAR_PAST, FAR_FUTURE)
    counts = dict(changes.group_by("file").len().iter_rows())
    sample = sorted(counts)[:: max(1, len(counts) // 40)]
    assert sample
    assert {p: counts[p] for p in sample} == {p: git_log_count(REPO_ROOT, p) for p in sample}


def test_unconfigured_repository_gives_an_empty_frame_and_bad_paths_an_error(tmp_path: Path) -> None:
    assert GitRepository().code_changes(FAR_PAST, FAR_FUTURE).schema == schemas.CODE_CHANGES
    with pytest.raises(GitError, match="failed"):
        read_git_changes(tmp_path, FAR_PAST, FAR_FUTURE)


def test_malformed_git_output_is_rejected() -> None:
    with pytest.raises(ArtifactRejected, match="before any commit header"):
        parse_git_history(b"1\t2\tfile\0")
    header = b"\x1e" + b"a" * 40 + b"\x1f2025-03-01T00:00:00+00:00\x1f\0"
    with pytest.raises(ArtifactRejected, match="not a numstat line"):
        parse_git_history(header + b"x\ty\tfile\0")
    merge = b"\x1e" + b"m" * 40 + b"\x1f2025-03-01T00:00:00+00:00\x1f" + b"a" * 40 + b" " + b"b" * 40 + b"\0"
    with pytest.raises(ArtifactRejected, match="merge diffs"):
        parse_git_history(merge, b"")


def test_changed_files_of_run_json_once_per_sha_and_file() -> None:
    runs = [
        {
            "sha": "abc",
            "started_at": "2025-03-01T10:00:00Z",
            "changed_files": ["shop/cart/cart.py", "./web/src/a.ts"],
        },
        {"sha": "abc", "started_at": "2025-03-02T10:00:00Z", "changed_files": ["shop/cart/cart.py"]},
        {
            "sha": "def",
            "started_at": "2025-03-02T11:00:00Z",
            "changed_files": [{"path": "shop/payments/p.py", "additions": 3, "deletions": 1}, "", 7],
        },
        {"sha": "ghi", "started_at": "2025-03-02T12:00:00Z"},
    ]
    changes = changes_from_runs(runs, load_catalog())
    assert changes.schema == schemas.CODE_CHANGES
    assert sorted(zip(changes["sha"], changes["file"], strict=True)) == [
        ("abc", "shop/cart/cart.py"),
        ("abc", "web/src/a.ts"),
        ("def", "shop/payments/p.py"),
    ]
    cart = changes.filter(pl.col("file") == "shop/cart/cart.py").row(0, named=True)
    assert cart["day"] == date(2025, 3, 1) and cart["component"] == "cart" and cart["lines_added"] is None
    payment = changes.filter(pl.col("sha") == "def").row(0, named=True)
    assert (payment["lines_added"], payment["lines_deleted"], payment["source"]) == (3, 1, "run.json")
    assert changes_from_runs([]).is_empty()


def _random_history(path: Path, seed: int, commits: int) -> Repo:
    """Branches, merges (plain, -s ours, -X theirs, conflicts resolved as ours), cherry-picks,
    deletions and edits in random order: the shapes git's per-path simplification cares about."""
    rng = random.Random(seed)
    repo = Repo(path)
    files = [f"shop/cart/f{i}.py" for i in range(6)]
    for name in files[:3]:
        repo.write(name, "base\n")
    repo.commit("root", hours=0)
    branches = ["main"]
    for i in range(commits):
        current = repo.git("rev-parse", "--abbrev-ref", "HEAD").strip()
        others = [b for b in branches if b != current]
        roll = rng.random()
        if roll < 0.15 and len(branches) < 4:
            branches.append(f"b{i}")
            repo.git("checkout", "-q", "-b", branches[-1])
        elif roll < 0.4 and others:
            strategy = rng.choice([[], ["-s", "ours"], ["-X", "theirs"]])
            if (
                repo.git("merge", "-q", "--no-ff", "--no-commit", *strategy, rng.choice(others), check=False)
                == ""
            ):
                pass
            repo.git("checkout", "--ours", ".", check=False)
            repo.commit(f"merge into {current}", hours=rng.randint(1, 30))
        elif roll < 0.5 and others:
            repo.git("checkout", "-q", rng.choice(others))
        elif roll < 0.55 and others:
            sha = repo.git("rev-parse", rng.choice(others)).strip()
            if len(repo.git("log", "-1", "--format=%P", sha).split()) == 1:
                repo.git("cherry-pick", "-n", sha, check=False)
                repo.git("checkout", "--ours", ".", check=False)
                repo.commit(f"cherry-pick {sha[:7]}", hours=rng.randint(1, 30))
        else:
            for name in rng.sample(files, rng.randint(1, 3)):
                target = repo.path / name
                if target.exists() and rng.random() < 0.1:
                    target.unlink()
                else:
                    lines = target.read_text().splitlines() if target.exists() else []
                    lines.insert(rng.randint(0, len(lines)), f"{current} {i} {rng.random():.4f}")
                    repo.write(name, "\n".join(lines) + "\n")
            repo.commit(f"change {i} on {current}", hours=rng.randint(1, 30))
    return repo


def test_random_histories_match_git_log_on_every_branch(tmp_path: Path) -> None:
    repo = _random_history(tmp_path / "random", seed=11, commits=45)
    refs = repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert any(len(repo.git("log", "--merges", "--format=%H", ref).split()) >= 3 for ref in refs)
    paths = every_path(repo.path)
    for ref in refs:
        for since in (FAR_PAST, date(2025, 3, 20)):
            counts = dict(
                read_git_changes(repo.path, since, FAR_FUTURE, ref=ref).group_by("file").len().iter_rows()
            )
            expected = {
                p: len(
                    repo.git("log", ref, f"--since={since}T00:00:00+00:00", "--format=%H", "--", p).split()
                )
                for p in paths
            }
            assert {p: counts.get(p, 0) for p in paths} == expected, (ref, since)
