"""Test evidence for checklist items: which linked tests ran, how they ended, and a fingerprint
of the bug's tagged code when they ran. Kept in the repository as deterministic JSON (sorted, no
times), so that the same code and the same results give the same bytes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import textwrap
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tracer.config import Config
from tracer.fileio import atomic_write
from tracer.render import ItemState
from tracer.reports import BugReport
from tracer.scanner import TaggedScope

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def scope_key(tagged: TaggedScope) -> str:
    return f"{tagged.path}::{tagged.scope.qualname}"


def fingerprint_source(source: str) -> str:
    """A digest of a scope's code tokens: the same wherever the scope sits in its file and however
    its comments and blank lines read, different for any change of its code (docstrings included)."""
    text = textwrap.dedent(source)
    digest = hashlib.sha256()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL):
                continue
            digest.update(f"{token.type}:{token.string}\0".encode())
    except (tokenize.TokenError, IndentationError, SyntaxError):
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def fingerprints(config: Config, tagged: list[TaggedScope]) -> dict[str, str]:
    """Fingerprint of each tagged scope of one bug, by `path::qualname`. A module is fingerprinted
    by its tagged blocks only: its functions have fingerprints of their own."""
    sources: dict[str, list[str]] = {}
    result = {}
    for item in tagged:
        lines = sources.setdefault(item.path, (config.root / item.path).read_text(encoding="utf-8").splitlines())
        if item.scope.kind == "module":
            text = "\n".join("\n".join(lines[c.start_line - 1 : c.end_line]) for c in item.changes)
        else:
            text = "\n".join(lines[item.scope.start_line - 1 : item.scope.end_line])
        result[scope_key(item)] = fingerprint_source(text + "\n")
    return dict(sorted(result.items()))


def code_id(prints: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Evidence:
    """One bug's evidence: test outcomes per checklist item, the code they ran on, and the proof."""

    bug_id: str
    code_commit: str | None = None
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)  # code id -> scope -> digest
    items: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # item -> test -> {outcome, code}
    proof: dict | None = None

    def to_json(self) -> str:
        used = {result["code"] for tests in self.items.values() for result in tests.values()}
        data = {
            "bug_id": self.bug_id,
            "code_commit": self.code_commit,
            "fingerprints": {k: v for k, v in sorted(self.fingerprints.items()) if k in used},
            "items": {item: dict(sorted(tests.items())) for item, tests in sorted(self.items.items())},
            "proof": self.proof,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Evidence:
        data = json.loads(text)
        return cls(data["bug_id"], data.get("code_commit"), data.get("fingerprints", {}), data.get("items", {}), data.get("proof"))

    def forget_missing_tests(self, root: Path) -> None:
        """Drop the results of tests whose file or function is gone (renamed or deleted), so that
        they neither verify nor fail an item any more."""
        sources: dict[str, str | None] = {}
        for tests in self.items.values():
            for test_id in list(tests):
                path, _, name = test_id.partition("::")
                if path not in sources:
                    file = root / path
                    sources[path] = file.read_text(encoding="utf-8", errors="replace") if file.is_file() else None
                function = name.rsplit("::", 1)[-1].split("[", 1)[0]
                source = sources[path]
                if source is None or re.search(rf"\bdef {re.escape(function)}\b", source) is None:
                    del tests[test_id]
        self.items = {item: tests for item, tests in self.items.items() if tests}

    def record(self, item_id: str, test_id: str, outcome: str, prints: dict[str, str]) -> None:
        identity = code_id(prints)
        self.fingerprints[identity] = prints
        self.items.setdefault(item_id, {})[test_id] = {"outcome": outcome, "code": identity}


def evidence_path(config: Config, bug_id: str) -> Path:
    return config.path(config.evidence_dir) / f"{bug_id.lower()}.json"


def load_evidence(config: Config, bug_id: str) -> Evidence | None:
    path = evidence_path(config, bug_id)
    try:
        return Evidence.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        from tracer.problems import TracerError

        raise TracerError(f"evidence file is not valid: {error}", path.relative_to(config.root), 1) from None


@contextlib.contextmanager
def locked_evidence(config: Config, bug_id: str) -> Iterator[Evidence]:
    """Read, change and write one bug's evidence under an exclusive lock, so that two pytest
    processes finishing at once both land their results."""
    folder = config.path(config.evidence_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".evidence.lock", "a+") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - no fcntl on Windows: best effort
            pass
        evidence = load_evidence(config, bug_id) or Evidence(bug_id)
        before = evidence.to_json()
        yield evidence
        after = evidence.to_json()
        if after != before:
            atomic_write(evidence_path(config, bug_id), after)


def item_states(report: BugReport, evidence: Evidence | None, tagged: list[TaggedScope], config: Config) -> list[ItemState]:
    """Each checklist item's state: verified, failed, open, manual or stale."""
    current = fingerprints(config, tagged)
    states = []
    for item in report.checklist:
        tests = (evidence.items.get(item.id, {}) if evidence else {})
        state, detail = _state(tests, evidence, current)
        if state == "open" and item.manual is not None:
            state, detail = "manual", f"signed off by {item.manual.by}: {item.manual.reason}"
        proof = (evidence.proof or {}).get("items", {}).get(item.id, {}) if evidence else {}
        states.append(ItemState(item.id, item.group, item.text, state, detail, proof_summary(proof)))
    return states


def short_tests(test_ids: list[str]) -> str:
    """Test ids grouped by file, parametrized cases folded:
    "`test_a` (3 cases), `test_b` in `tests/test_x.py`"."""
    by_file: dict[str, dict[str, int]] = {}
    for test_id in sorted(test_ids):
        path, _, name = test_id.partition("::")
        counts = by_file.setdefault(path, {})
        base = name.split("[", 1)[0]
        counts[base] = counts.get(base, 0) + 1
    return "; ".join(
        ", ".join(f"`{name}`" + (f" ({n} cases)" if n > 1 else "") for name, n in counts.items()) + f" in `{path}`"
        for path, counts in by_file.items()
    )


def proof_summary(verdicts: dict[str, str]) -> str:
    """"fails before the fix, passes after: `test_a`; passes before too: `test_b`"."""
    from tracer.prove import PROVEN

    by_verdict: dict[str, list[str]] = {}
    for test_id, verdict in sorted(verdicts.items()):
        by_verdict.setdefault("fails before the fix, passes after" if verdict == PROVEN else verdict, []).append(test_id)
    return "; ".join(f"{verdict}: {short_tests(tests)}" for verdict, tests in sorted(by_verdict.items()))


def _state(tests: dict[str, dict[str, str]], evidence: Evidence | None, current: dict[str, str]) -> tuple[str, str]:
    if not tests:
        return "open", "no linked test has run"
    failed = sorted(t for t, r in tests.items() if r["outcome"] == FAILED)
    if failed:
        return "failed", "failed: " + short_tests(failed)
    passed = sorted(t for t, r in tests.items() if r["outcome"] == PASSED)
    if not passed:
        return "open", f"{len(tests)} linked test{'s' if len(tests) > 1 else ''} ran, none passed (skipped)"
    assert evidence is not None
    changed = sorted(
        set().union(*(changed_scopes(evidence.fingerprints.get(tests[t]["code"], {}), current) for t in passed))
    )
    if changed:
        return "stale", "verified on code that has since changed: " + ", ".join(f"`{s}`" for s in changed)
    skipped = len(tests) - len(passed)
    note = f" ({skipped} skipped)" if skipped else ""
    return "verified", "by " + short_tests(passed) + note


def changed_scopes(recorded: dict[str, str], current: dict[str, str]) -> set[str]:
    """Scopes changed, added or removed since the fingerprints were recorded."""
    return {scope for scope in recorded.keys() | current.keys() if recorded.get(scope) != current.get(scope)}


def status_line(report: BugReport, items: list[ItemState]) -> str:
    """For example "fixed: 15 of 19 items verified; 2 stale; 2 open"."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    parts = [f"{counts.get('verified', 0)} of {len(items)} items verified"]
    parts += [f"{counts[s]} {s}" for s in ("failed", "stale", "manual", "open") if counts.get(s)]
    return f"{report.status}: " + "; ".join(parts)
