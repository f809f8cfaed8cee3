"""Test evidence for checklist items (filled in by the pytest plugin) and the items' states."""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.config import Config
from tracer.render import ItemState
from tracer.reports import BugReport
from tracer.scanner import TaggedScope


@dataclass(frozen=True)
class Evidence:
    bug_id: str
    items: dict = field(default_factory=dict)
    proof: dict | None = None


def load_evidence(config: Config, bug_id: str) -> Evidence | None:
    return None


def item_states(report: BugReport, evidence: Evidence | None, tagged: list[TaggedScope], config: Config) -> list[ItemState]:
    states = []
    for item in report.checklist:
        if item.manual is not None:
            states.append(ItemState(item.id, item.group, item.text, "manual", f"signed off by {item.manual.by}: {item.manual.reason}"))
        else:
            states.append(ItemState(item.id, item.group, item.text, "open", "no test evidence yet"))
    return states


def status_line(report: BugReport, items: list[ItemState]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    parts = [f"{counts.get('verified', 0)} of {len(items)} items verified"]
    parts += [f"{counts[s]} {s}" for s in ("failed", "stale", "manual", "open") if counts.get(s)]
    return f"{report.status}: " + "; ".join(parts)
