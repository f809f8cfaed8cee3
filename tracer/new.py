"""`tracer new`: a report from the template, with the next ID that no branch has handed out."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tracer.config import Config
from tracer.fileio import atomic_write, project_lock
from tracer.gitio import GitError, git
from tracer.guard import write_target
from tracer.problems import TracerError
from tracer.reports import Severity
from tracer.scanner import literal_prefix

TEMPLATE = "bug_report.md.j2"


def id_prefix(config: Config, day: dt.date) -> str:
    """`BUG-20251110-` for the default pattern: IDs of the form PREFIX-YYYYMMDD-NNN, where PREFIX
    is the pattern's literal start."""
    prefix = f"{literal_prefix(config.id_pattern)}{day:%Y%m%d}-"
    if not config.id_regex.fullmatch(f"{prefix}001"):
        raise TracerError(f"tracer new needs IDs of the form PREFIX-YYYYMMDD-NNN; the pattern is {config.id_pattern}")
    return prefix


def ids_in_use(config: Config, prefix: str) -> set[str]:
    """IDs with `prefix` in the work tree's reports and in every local and remote branch git knows."""
    pattern = re.compile(re.escape(prefix.lower()) + r"\d{3}")
    found = set()
    folder = config.path(config.reports_dir)
    if folder.is_dir():
        found |= {m.group(0) for p in folder.iterdir() if (m := pattern.match(p.name.lower()))}
    try:
        refs = git(config.root, "for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes").split()
        for ref in sorted(set(refs)):
            names = git(config.root, "ls-tree", "-r", "--name-only", ref, "--", config.reports_dir)
            found |= {
                m.group(0) for name in names.splitlines() if (m := pattern.match(name.rsplit("/", 1)[-1].lower()))
            }
    except GitError:
        pass  # not a git repository: the work tree is all there is
    return {name.upper() for name in found}


def slug(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:60].strip("-") or "report"


def new_report(config: Config, title: str, severity: str, author: str, day: dt.date) -> tuple[str, Path]:
    """Write the report and return its bug ID and path; never overwrites a file. The ID is chosen and its
    file written under one lock, so two `tracer new` at once never hand out the same ID."""
    from tracer.render import render_template

    title, author = " ".join(title.split()), " ".join(author.split()) or "unknown"
    if not title:
        raise TracerError("the title is empty: say in a few words what goes wrong")
    if severity not in list(Severity):
        raise TracerError(f"severity must be one of {', '.join(Severity)}, got {severity!r}")
    prefix = id_prefix(config, day)
    with project_lock(config.path(config.cache_dir), config.root, "new"):
        used = ids_in_use(config, prefix)
        number = next((n for n in range(1, 1000) if f"{prefix}{n:03d}".upper() not in used), None)
        if number is None:
            raise TracerError(f"no free ID left for {day}: {prefix}001 to {prefix}999 are all taken")
        bug_id = f"{prefix}{number:03d}"
        text = render_template(
            config,
            TEMPLATE,
            {"bug_id": bug_id, "title": title, "severity": severity, "author": author, "date": day.isoformat()},
        )
        path = config.path(config.reports_dir) / f"{bug_id.lower()}-{slug(title)}.md"
        try:
            atomic_write(
                write_target(config.root, path), text, overwrite=False
            )  # never into a reports folder that links out
        except FileExistsError:
            raise TracerError("already exists; nothing written", path.relative_to(config.root)) from None
    return bug_id, path
