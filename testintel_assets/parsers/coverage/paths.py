"""Coverage paths to repo-relative paths (docs/coverage.md, "Path normalisation").

Reports name files as the producing tool saw them: absolute paths in a CI workspace
(`/home/runner/work/shop/shop/shop/cart.py`), Windows paths (`C:\\a\\shop\\shop\\cart.cs`), paths
relative to a `<source>` root, `./` prefixes. The warehouse needs the path relative to the
repository root, which is what components.yaml globs and run.json changed_files use.

Order of rules, first match wins: the repository's own prefixes (components.yaml
`strip_prefixes`), the workspace layouts of common CI systems, the report's own source roots;
a relative path under a root the rules cannot place is taken as relative to the repository root.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

import polars as pl

# Workspace roots of common CI systems, matched at the start of a normalised absolute path.
_CI_WORKSPACES = re.compile(
    r"""^(?:
      /home/runner/work/[^/]+/[^/]+/              # GitHub Actions, Linux
    | /Users/runner/work/[^/]+/[^/]+/             # GitHub Actions, macOS
    | /__w/[^/]+/[^/]+/                           # GitHub Actions, container jobs
    | /github/workspace/                          # GitHub Actions, Docker actions
    | [a-z]:/a/[^/]+/[^/]+/                       # GitHub Actions and Azure Pipelines, Windows
    | /home/vsts/work/\d+/s/                      # Azure Pipelines, Linux
    | /builds/[^/]+/[^/]+/                        # GitLab CI (group/project)
    | /home/circleci/(?:project|repo)/            # CircleCI
    | /opt/atlassian/pipelines/agent/build/       # Bitbucket Pipelines
    | /home/travis/build/[^/]+/[^/]+/             # Travis CI
    | (?:/var/lib/jenkins|/var/jenkins_home|/home/jenkins(?:/agent)?|[a-z]:/jenkins)/workspace/[^/]+/
    | /var/lib/buildkite-agent/builds/[^/]+/[^/]+/[^/]+/
    | /drone/src/                                 # Drone
    | /woodpecker/src/[^/]+/[^/]+/[^/]+/          # Woodpecker
    | /workspace/                                 # Google Cloud Build, Tekton
    | /usr/src/app/ | /app/                       # the usual Docker WORKDIRs
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_DRIVE = re.compile(r"^[A-Za-z]:/")


def clean(path: str) -> str:
    """Forward slashes, no `./` or `..` segments, no doubled separators."""
    text = path.strip().replace("\\", "/")
    if not text:
        return ""
    if text.startswith("file://"):
        text = text[len("file://") :]
    normal = posixpath.normpath(text)
    if normal.startswith("//"):  # posix keeps a leading '//'; it is not a UNC share here
        normal = "/" + normal.lstrip("/")
    return "" if normal == "." else normal


def is_absolute(path: str) -> bool:
    return path.startswith("/") or bool(_DRIVE.match(path))


def _as_dir(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def prefix_pattern(prefixes: Sequence[str]) -> re.Pattern[str] | None:
    """Configured prefixes as one pattern; `*` stands for one path segment, longest prefix wins."""
    cleaned = sorted({_as_dir(clean(prefix)) for prefix in prefixes if prefix.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    alternatives = [re.escape(prefix).replace(r"\*", "[^/]+") for prefix in cleaned]
    return re.compile("^(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def strip_workspace(path: str, prefixes: re.Pattern[str] | None = None) -> str | None:
    """The repo-relative rest of an absolute path under a known workspace, or None."""
    for pattern in (prefixes, _CI_WORKSPACES):
        match = pattern.match(path) if pattern else None
        if match and match.end() < len(path):
            return path[match.end() :]
    return None


def usable_roots(roots: Sequence[str]) -> list[str]:
    """Source roots worth trying: cleaned, no command-line junk like scoverage's `--source`."""
    cleaned = [clean(root) for root in roots]
    return [root for root in cleaned if root and not root.startswith("-")]


def normalise(
    raw: str, roots: Sequence[str] = (), prefixes: re.Pattern[str] | None = None
) -> tuple[str, str]:
    """(source_path, repo-relative file) for a path as a report writes it.

    source_path is the raw path joined to the report's first source root when relative, so a
    configured prefix can still be applied to it later (`apply_prefixes`).
    """
    path = clean(raw)
    roots = usable_roots(roots)
    source_path = clean(f"{roots[0]}/{path}") if roots and not is_absolute(path) else path
    if is_absolute(source_path):
        stripped = strip_workspace(source_path, prefixes)
        if stripped is not None:
            return source_path, stripped
    if not is_absolute(source_path):  # relative root (coverage.py relative_files): keep it
        return source_path, source_path
    if not is_absolute(path):  # a root the rules cannot place: take it as the repository root
        return source_path, path
    for root in sorted((root for root in roots if is_absolute(root)), key=len, reverse=True):
        directory = _as_dir(root)
        if path.lower().startswith(directory.lower()) and len(path) > len(directory):
            return source_path, path[len(directory) :]
    return source_path, path


def normalise_frame(frame: pl.DataFrame, roots: Sequence[str] = ()) -> pl.DataFrame:
    """Fill `source_path` and `file` from the raw paths a reader left in `source_path`."""
    if frame.is_empty():
        return frame
    raw_paths = frame.get_column("source_path").unique().to_list()
    resolved = {raw: normalise(raw, roots) for raw in raw_paths}
    return frame.with_columns(
        pl.col("source_path").replace_strict({raw: pair[1] for raw, pair in resolved.items()}).alias("file"),
        pl.col("source_path").replace_strict({raw: pair[0] for raw, pair in resolved.items()}),
    )
