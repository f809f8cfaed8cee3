"""Test evidence for checklist items: which linked tests ran, where, how they ended, and a
fingerprint of the bug's tagged code when they ran.

Evidence of a bug is a folder, `<evidence_dir>/<bug id>/`, with one JSON file per environment
(Python, platform and the facts a project adds, such as its device), so a run replaces only its
own environment's results, results from another machine are added by copying or merging a file,
and two branches that each ran somewhere else merge in git without a conflict. `signoffs.json`
beside them holds manual sign-offs. Files are deterministic (sorted, no times, no commit ids): a
rerun on unchanged code writes the same bytes. Every file is checked against a versioned JSON
Schema (`tracer/schemas/`) when it is read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.fileio import atomic_write
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.scanner import TaggedScope
from tracer.fingerprint import FINGERPRINT_SCHEME, fingerprint_source
from tracer.sourcetext import SourceDecodeError, read_source, split_lines

SCHEMA_VERSION = 1  # of the evidence file (tracer/schemas/evidence-1.schema.json)
SIGNOFFS = "signoffs"  # the file of sign-offs, beside the environment files
SCHEMA_FILE = Path(__file__).parent / "schemas" / f"evidence-{SCHEMA_VERSION}.schema.json"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # skips and expected failures: they never verify and never erase


class Verdict(StrEnum):
    """What `tracer prove` found for one test."""

    PROVEN = "proven"  # fails before the fix, passes after, the same way every run
    PASSES_BEFORE = "passes before too"  # the test does not catch the bug
    FAILS_AFTER = "fails after"
    NOT_RUN_BEFORE = "cannot run before"  # not collected or not set up on the old code: no proof
    SKIPPED = "skipped"
    FLAKY = "flaky"  # its outcome differed between runs of one side: proves nothing

    @property
    def description(self) -> str:
        return "fails before the fix, passes after" if self is Verdict.PROVEN else self.value


class ItemStatus(StrEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    STALE = "stale"
    MANUAL = "manual"
    OPEN = "open"

    @property
    def done(self) -> bool:
        return self in (ItemStatus.VERIFIED, ItemStatus.MANUAL)


# Fingerprints

def scope_key(tagged: TaggedScope) -> str:
    return f"{tagged.path}::{tagged.scope.qualname}"


def fingerprints(root: Path, tagged: Iterable[TaggedScope]) -> dict[str, str]:
    """Fingerprint of each tagged scope of one bug, by `path::qualname`. A module is fingerprinted
    by its tagged blocks only: its functions have fingerprints of their own."""
    sources: dict[str, list[str]] = {}
    result = {}
    for item in tagged:
        if item.path not in sources:
            try:
                sources[item.path] = split_lines(read_source(root / item.path))
            except (OSError, SourceDecodeError):
                sources[item.path] = []
        lines = sources[item.path]
        if item.scope.kind == "module":
            text = "\n".join("\n".join(lines[c.start_line - 1 : c.end_line]) for c in item.changes)
        else:
            text = "\n".join(lines[item.scope.start_line - 1 : item.scope.end_line])
        result[scope_key(item)] = fingerprint_source(text + "\n")
    return dict(sorted(result.items()))


def code_id(prints: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()[:12]


def changed_scopes(recorded: Mapping[str, str], current: Mapping[str, str]) -> set[str]:
    """Scopes changed, added or removed since the fingerprints were recorded."""
    return {scope for scope in recorded.keys() | current.keys() if recorded.get(scope) != current.get(scope)}


# Environments


@dataclass(frozen=True)
class Environment:
    """Where tests ran: Python, platform and the facts a project adds (`pytest_tracer_environment`)."""

    facts: tuple[tuple[str, str], ...]  # sorted (name, value)

    @classmethod
    def of(cls, facts: Mapping[str, str]) -> Environment:
        return cls(tuple(sorted((str(k), str(v)) for k, v in facts.items())))

    @property
    def as_dict(self) -> dict[str, str]:
        return dict(self.facts)

    @property
    def label(self) -> str:
        """For example "cpython 3.11 / linux / device cpu / torch 2.13.0"."""
        facts = self.as_dict
        if not facts:
            return "any environment"
        head = [f"{facts.pop('implementation', 'python')} {facts.pop('python', '?')}".strip(), facts.pop("platform", "")]
        return " / ".join([part for part in head if part] + [f"{k} {v}" for k, v in sorted(facts.items())])

    @property
    def file_stem(self) -> str:
        """A file name that says which environment it holds, and differs for different facts
        (`signoffs` for none: the sign-offs hold in every environment)."""
        if not self.facts:
            return SIGNOFFS
        facts = self.as_dict
        words = [f"{facts.pop('implementation', '')}{facts.pop('python', '')}", facts.pop("platform", "")]
        words += [f"{k}-{v}" for k, v in sorted(facts.items())]
        raw = "-".join(word for word in words if word)
        slug = safe_name(raw)[:80] or "environment"
        if slug != raw or any(not re.fullmatch(r"[A-Za-z0-9._]+", part) for fact in self.facts for part in fact):
            slug += "-" + hashlib.sha256(json.dumps(self.facts).encode()).hexdigest()[:8]  # "-" inside facts is ambiguous
        return slug


def safe_name(text: str) -> str:
    """Text as one file name: no separators, no leading dots, nothing a shell would trip on."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip(".").strip("_-") or "_"


def python_environment() -> dict[str, str]:
    """The facts every run records: Python's version and implementation, and the platform."""
    return {
        "implementation": sys.implementation.name,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platform": sys.platform,
    }


# The files


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    outcome: Outcome
    code: str  # the code id of the fingerprints the test ran on


@dataclass(frozen=True)
class SignOff:
    by: str
    reason: str
    code: str
    from_report: bool = False  # pinned from the report's `manual:` entry, so it goes when that entry goes


@dataclass(frozen=True)
class Proof:
    """`tracer prove` in one environment: each linked test's verdict, grouped by checklist item."""

    revision: str
    repeat: int
    items: Mapping[str, Mapping[str, Verdict]]
    code: str = ""  # the code id of the fingerprints the fixed side ran on


@dataclass
class EvidenceFile:
    """One environment's results for one bug (or, with no environment, the bug's sign-offs)."""

    bug_id: str
    environment: Environment
    scheme: int = FINGERPRINT_SCHEME
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)  # code id -> scope -> digest
    items: dict[str, dict[str, TestResult]] = field(default_factory=dict)  # item -> test -> result
    signoffs: dict[str, SignOff] = field(default_factory=dict)  # item -> sign-off
    proof: Proof | None = None

    def to_json(self) -> str:
        used = {r.code for tests in self.items.values() for r in tests.values()} | {s.code for s in self.signoffs.values()}
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "fingerprint_scheme": self.scheme,
            "bug_id": self.bug_id,
            "environment": self.environment.as_dict,
            "fingerprints": {k: dict(sorted(v.items())) for k, v in sorted(self.fingerprints.items()) if k in used},
            "items": {
                item: {test: {"outcome": r.outcome.value, "code": r.code} for test, r in sorted(tests.items())}
                for item, tests in sorted(self.items.items()) if tests
            },
        }
        if self.signoffs:
            data["signoffs"] = {
                i: {"by": s.by, "reason": s.reason, "code": s.code, **({"from_report": True} if s.from_report else {})}
                for i, s in sorted(self.signoffs.items())
            }
        if self.proof is not None:
            data["proof"] = {
                "revision": self.proof.revision,
                "repeat": self.proof.repeat,
                "code": self.proof.code,
                "items": {i: {t: v.value for t, v in sorted(tests.items())} for i, tests in sorted(self.proof.items.items())},
            }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> EvidenceFile:
        """From data the schema has accepted."""
        proof = data.get("proof")
        return cls(
            bug_id=data["bug_id"],
            environment=Environment.of(data["environment"]),
            scheme=data["fingerprint_scheme"],
            fingerprints=data["fingerprints"],
            items={
                item: {test: TestResult(Outcome(r["outcome"]), r["code"]) for test, r in tests.items()}
                for item, tests in data["items"].items()
            },
            signoffs={
                item: SignOff(s["by"], s["reason"], s["code"], s.get("from_report", False)) for item, s in data.get("signoffs", {}).items()
            },
            proof=None if proof is None else Proof(
                proof["revision"], proof["repeat"],
                {i: {t: Verdict(v) for t, v in tests.items()} for i, tests in proof["items"].items()},
                proof.get("code", ""),
            ),
        )

    def remember(self, prints: Mapping[str, str]) -> str:
        identity = code_id(prints)
        self.fingerprints[identity] = dict(prints)
        return identity

    def record(self, item_id: str, test_id: str, outcome: Outcome, prints: Mapping[str, str]) -> None:
        """A test's result; a skip never replaces a result the test had in this environment."""
        tests = self.items.setdefault(item_id, {})
        if outcome is Outcome.SKIPPED and test_id in tests:
            return
        tests[test_id] = TestResult(outcome, self.remember(prints))

    def forget(self, keep: Callable[[str, str], bool]) -> None:
        """Keep the results `keep(item, test)` says are still linked and present."""
        self.items = {item: {t: r for t, r in tests.items() if keep(item, t)} for item, tests in self.items.items()}
        self.items = {item: tests for item, tests in self.items.items() if tests}


@dataclass(frozen=True)
class BugEvidence:
    """All of one bug's evidence files; `files` by file stem."""

    bug_id: str
    files: Mapping[str, EvidenceFile] = field(default_factory=dict)

    @property
    def environments(self) -> list[EvidenceFile]:
        return [f for stem, f in sorted(self.files.items()) if stem != SIGNOFFS]

    @property
    def signoffs(self) -> Mapping[str, SignOff]:
        file = self.files.get(SIGNOFFS)
        return file.signoffs if file else {}

    def fingerprints_of(self, code: str) -> Mapping[str, str] | None:
        for file in self.files.values():
            if code in file.fingerprints:
                return file.fingerprints[code]
        return None


class EvidenceError(TracerError):
    """An evidence file that breaks the schema: never read, never overwritten."""


def evidence_folder(config: Config, bug_id: str) -> Path:
    return config.path(config.evidence_dir) / safe_name(bug_id.lower())


def evidence_files(config: Config, bug_id: str) -> list[Path]:
    """The bug's evidence files: regular files inside the project only. A FIFO, a folder or a
    link out of the project named `*.json` is never opened (it would hang or leak a read)."""
    folder = evidence_folder(config, bug_id)
    if not folder.is_dir():
        return []
    root = config.root.resolve()
    files = []
    for path in sorted(folder.glob("*.json")):
        try:
            if stat.S_ISREG(path.stat().st_mode) and path.resolve().is_relative_to(root):
                files.append(path)
        except OSError:
            continue
    return files


def legacy_evidence_path(config: Config, bug_id: str) -> Path:
    """Where tracer 0.1 kept one file for all environments."""
    return config.path(config.evidence_dir) / f"{bug_id.lower()}.json"


@cache
def _schema_text() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_schema_text())
    return loaded


def validate_evidence(text: str, shown: str, cache_folder: Path | None = None) -> dict[str, Any]:
    """The file's data, or EvidenceError naming the file and the reason. A file whose exact bytes
    were valid before is not validated again (jsonschema costs a tenth of a second to import)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise EvidenceError(f"evidence file is not valid JSON: {error}", shown, getattr(error, "lineno", 1)) from None
    except RecursionError:
        raise EvidenceError("evidence file is not valid: nested too deeply", shown, 1) from None
    store = ContentCache(cache_folder)
    key = "valid-" + digest_of(_schema_text(), text)
    if store.get(key) is None:
        import jsonschema

        errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(part) for part in errors[0].absolute_path) or "the top level"
            raise EvidenceError(
                f"evidence file is not valid: it breaks schema {SCHEMA_VERSION} at {where}: {errors[0].message}; "
                "fix or delete the file and rerun the tests", shown, 1,
            )
        store.put(key, "valid")
    valid: dict[str, Any] = data  # the schema says it is an object
    return valid


def load_evidence_file(config: Config, path: Path) -> EvidenceFile:
    shown = path.relative_to(config.root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EvidenceError("evidence file is not valid UTF-8", shown, 1) from None
    data = validate_evidence(text, shown, config.path(config.cache_dir) / "evidence")
    evidence = EvidenceFile.from_data(data)
    expected = evidence.environment.file_stem
    if path.stem != expected:
        raise EvidenceError(f"evidence file of environment {evidence.environment.label!r} must be named {expected}.json", shown, 1)
    return evidence


def load_evidence(config: Config, bug_id: str) -> BugEvidence:
    """Every evidence file of a bug; EvidenceError for the first one that cannot be trusted."""
    files: dict[str, EvidenceFile] = {}
    for path in evidence_files(config, bug_id):
        evidence = load_evidence_file(config, path)
        if evidence.bug_id.casefold() != bug_id.casefold():
            raise EvidenceError(f"evidence file holds {evidence.bug_id}, not {bug_id}", path.relative_to(config.root).as_posix(), 1)
        files[path.stem] = evidence
    return BugEvidence(bug_id, files)


def evidence_lock(config: Config, bug_id: str) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock for one bug's evidence."""
    return project_lock(config, safe_name(bug_id.lower()))


@contextlib.contextmanager
def project_lock(config: Config, what: str) -> Iterator[None]:
    """An exclusive lock across processes, kept in the cache folder (or the system's temporary
    folder where that cannot be written): never a file in the work tree."""
    from filelock import FileLock

    name = f"{what}.lock"
    folder = config.path(config.cache_dir) / "locks"
    try:
        ContentCache(folder).put(".keep", "")  # makes the folder and the cache's own .gitignore
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(folder / name)
    except OSError:
        root_digest = hashlib.sha256(str(config.root).encode()).hexdigest()[:12]
        lock = FileLock(Path(tempfile.gettempdir()) / f"tracer-{root_digest}-{name}")
    with lock:
        yield


@contextlib.contextmanager
def updated_evidence(config: Config, bug_id: str, environment: Environment) -> Iterator[EvidenceFile]:
    """Read, change and write one environment's evidence file under the bug's lock, so that two
    pytest processes finishing at once both land their results. A file that cannot be trusted
    raises EvidenceError before anything is written."""
    path = evidence_folder(config, bug_id) / f"{environment.file_stem}.json"
    with evidence_lock(config, bug_id):
        evidence = load_evidence_file(config, path) if path.is_file() else EvidenceFile(bug_id, environment)
        before = evidence.to_json() if path.is_file() else ""
        if evidence.scheme != FINGERPRINT_SCHEME:  # results of another scheme cannot be compared: start afresh
            evidence = EvidenceFile(bug_id, environment)
        yield evidence
        after = evidence.to_json()
        if after != before:
            atomic_write(path, after)


def forget_missing_tests(config: Config, bug_id: str, collected: Mapping[str, set[tuple[str, str]]],
                         partial: set[str], environment: Environment) -> None:
    """Drop results that are really gone: a test whose file is gone (in every environment); a test
    collected in this run that no longer links to the item (in every environment: links are
    code); a test whose file was collected whole in this run without it (in this run's
    environment only: a test generated only where a GPU is present must not vanish from the GPU's
    results). `collected` maps each collected test to its (bug, item) links."""
    collected_files = {test_id.partition("::")[0] for test_id in collected} - partial
    for path in evidence_files(config, bug_id):
        if path.stem == SIGNOFFS:
            continue
        this_environment = path.stem == environment.file_stem

        def keep(item_id: str, test_id: str) -> bool:
            test_file = test_id.partition("::")[0]
            if not (config.root / test_file).is_file():
                return False
            if test_id in collected:
                return any(b.casefold() == bug_id.casefold() and i == item_id for b, i in collected[test_id])
            return not (this_environment and test_file in collected_files)

        with evidence_lock(config, bug_id):
            try:
                evidence = load_evidence_file(config, path)
            except EvidenceError:
                continue  # never rewrite a file that cannot be trusted; its reader says why
            before = evidence.to_json()
            evidence.forget(keep)
            if evidence.to_json() != before:
                atomic_write(path, evidence.to_json())


def merge_evidence(config: Config, sources: Iterable[Path], reports: Mapping[str, BugReport]) -> list[Path]:
    """Add evidence files written elsewhere (another machine, a CI artifact) to the project's:
    each replaces the project's file of the same bug and environment. Every file is checked
    (schema, a bug with a report, its items, an environment) before any is written. `reports`
    holds the project's reports by lowercase bug ID. Returns what it wrote."""
    loaded = []
    for source in sources:
        shown = str(source)
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise EvidenceError("evidence file is not valid UTF-8", shown, 1) from None
        evidence = EvidenceFile.from_data(validate_evidence(text, shown))
        report = reports.get(evidence.bug_id.lower())
        if report is None:
            raise EvidenceError(f"evidence of {evidence.bug_id!r}, which has no bug report here", shown, 1)
        if not evidence.environment.facts:
            raise EvidenceError("a file of sign-offs: record sign-offs with tracer signoff, on this project's code", shown, 1)
        unknown = sorted(set(evidence.items) - {i.id for i in report.checklist})
        if unknown:
            raise EvidenceError(f"evidence for items {report.bug_id} does not have: {', '.join(unknown)}", shown, 1)
        evidence.bug_id = report.bug_id
        loaded.append(evidence)
    written = []
    for evidence in loaded:
        target = evidence_folder(config, evidence.bug_id) / f"{evidence.environment.file_stem}.json"
        with evidence_lock(config, evidence.bug_id):
            atomic_write(target, evidence.to_json())
        written.append(target)
    return written


# Item states


@dataclass(frozen=True)
class LinkedResult:
    """One linked test's result in one environment, as the matrix shows it."""

    test_id: str
    environment: str  # its label
    outcome: Outcome
    current: bool  # ran on the code as it is now


@dataclass(frozen=True)
class ItemState:
    """A checklist item as the documents show it."""

    id: str
    group: str
    text: str
    state: ItemStatus
    detail: str
    proof: str = ""  # what `tracer prove` found for the item's tests, where it ran
    results: tuple[LinkedResult, ...] = ()
    verified_in: tuple[str, ...] = ()  # labels of the environments where a test verified it


@dataclass(frozen=True)
class BugStatus:
    """A bug's report, tagged code, evidence and item states: computed once per command."""

    report: BugReport
    tagged: tuple[TaggedScope, ...]
    evidence: BugEvidence
    items: tuple[ItemState, ...]

    @property
    def status_line(self) -> str:
        """For example "fixed: 15 of 19 items verified; 2 stale; 2 open"."""
        parts = [f"{self.count(ItemStatus.VERIFIED)} of {len(self.items)} items verified"]
        parts += [f"{self.count(s)} {s}" for s in (ItemStatus.FAILED, ItemStatus.STALE, ItemStatus.MANUAL, ItemStatus.OPEN) if self.count(s)]
        return f"{self.report.status}: " + "; ".join(parts)

    def count(self, state: ItemStatus) -> int:
        return sum(item.state is state for item in self.items)

    @property
    def summary(self) -> dict[str, Any]:
        """The counts an index shows of a bug, and where its items were verified."""
        return {
            "verified": self.count(ItemStatus.VERIFIED),
            "total": len(self.items),
            "stale": self.count(ItemStatus.STALE),
            "failed": self.count(ItemStatus.FAILED),
            "proven": self.proven,
            "environments": sorted({env for item in self.items for env in item.verified_in}),
        }

    @property
    def proven(self) -> int:
        """Items with a test that fails before the fix and passes after, in some environment."""
        return sum(
            any(v is Verdict.PROVEN for f in self.evidence.environments if f.proof for v in f.proof.items.get(i.id, {}).values())
            for i in self.items
        )


def assess(report: BugReport, tagged: Iterable[TaggedScope], evidence: BugEvidence, root: Path) -> BugStatus:
    """Each checklist item's state across every environment. A test's results on the current code
    speak for it; where it has none, its latest ones on older code do. Failed where such a result
    failed; verified where one passed on the current code; manual where a sign-off covers the
    current code; stale where tests passed (or a sign-off was given) only on older code. Results of
    tests whose file is gone count for nothing."""
    tagged = tuple(tagged)
    current = fingerprints(root, tagged)
    current_id = code_id(current)
    present: dict[str, bool] = {}
    states = []
    for item in report.checklist:
        results, old_scheme, changed = [], set(), set()
        for file in evidence.environments:
            for test_id, result in sorted(file.items.get(item.id, {}).items()):
                test_file = test_id.partition("::")[0]
                if test_file not in present:
                    present[test_file] = (root / test_file).is_file()
                if not present[test_file]:
                    continue
                is_current = file.scheme == FINGERPRINT_SCHEME and result.code == current_id
                if file.scheme != FINGERPRINT_SCHEME:
                    old_scheme.add(file.scheme)
                elif not is_current:
                    changed |= changed_scopes(file.fingerprints.get(result.code, {}), current)
                results.append(LinkedResult(test_id, file.environment.label, result.outcome, is_current))
        state, detail = _state(results, old_scheme, changed)
        if state in (ItemStatus.OPEN, ItemStatus.STALE):
            state, detail = _signed_off(item.id, item.manual, evidence, current, current_id, (state, detail), report.bug_id)
        verified_in = tuple(sorted({r.environment for r in results if r.current and r.outcome is Outcome.PASSED}))
        states.append(
            ItemState(item.id, item.group, item.text, state, detail, _proof_summary(evidence, item.id, current_id),
                      tuple(results), verified_in if state is ItemStatus.VERIFIED else ())
        )
    return BugStatus(report, tagged, evidence, tuple(states))


def _state(results: list[LinkedResult], old_scheme: set[int], changed: set[str]) -> tuple[ItemStatus, str]:
    if not results:
        return ItemStatus.OPEN, "no linked test has run"
    tests_run_now = {r.test_id for r in results if r.current}
    speaking = [r for r in results if r.current or r.test_id not in tests_run_now]
    failed = [r for r in speaking if r.outcome is Outcome.FAILED]
    if failed:
        older = "" if all(r.current for r in failed) else " (on code that has since changed)"
        return ItemStatus.FAILED, "failed: " + _where(failed) + older
    passed = [r for r in speaking if r.current and r.outcome is Outcome.PASSED]
    if passed:
        skipped = sum(r.outcome is Outcome.SKIPPED for r in results)
        return ItemStatus.VERIFIED, "by " + _where(passed) + (f" ({skipped} skipped)" if skipped else "")
    if old_scheme:
        schemes = ", ".join(str(s) for s in sorted(old_scheme))
        return ItemStatus.STALE, f"recorded with fingerprint scheme {schemes}, rerun the tests"
    if any(r.outcome is not Outcome.SKIPPED for r in results):
        scopes = ", ".join(f"`{s}`" for s in sorted(changed))
        return ItemStatus.STALE, f"verified on code that has since changed: {scopes}; rerun the tests"
    return ItemStatus.OPEN, f"{len(results)} linked test{'s' if len(results) > 1 else ''} ran, none passed (skipped)"


def _where(results: list[LinkedResult]) -> str:
    """"`test_a` in `tests/x.py` on cpython 3.11 / linux; `test_b` in `tests/x.py` on cpython 3.12 / linux"."""
    by_environment: dict[str, list[str]] = {}
    for result in results:
        by_environment.setdefault(result.environment, []).append(result.test_id)
    return "; ".join(f"{short_tests(tests)} on {env}" for env, tests in sorted(by_environment.items()))


def _signed_off(
    item_id: str, manual: Any, evidence: BugEvidence, current: Mapping[str, str], current_id: str,
    tested: tuple[ItemStatus, str], bug_id: str,
) -> tuple[ItemStatus, str]:
    """A sign-off on the current code makes an open or stale item manual; one on older code makes
    an open item stale."""
    sign_off = evidence.signoffs.get(item_id)
    if sign_off is not None:
        if sign_off.code == current_id:
            return ItemStatus.MANUAL, f"signed off by {sign_off.by}: {sign_off.reason}"
        if tested[0] is ItemStatus.STALE:
            return tested
        recorded = evidence.fingerprints_of(sign_off.code) or {}
        changed = ", ".join(f"`{s}`" for s in sorted(changed_scopes(recorded, current)))
        return ItemStatus.STALE, (
            f"signed off by {sign_off.by} on code that has since changed: {changed}; "
            f"sign off again with `tracer signoff {bug_id} {item_id}`"
        )
    if manual is not None and tested[0] is ItemStatus.OPEN:  # in the report alone: it counts, and check asks to pin it (W504)
        return ItemStatus.MANUAL, (
            f"signed off by {manual.by}: {manual.reason} (not pinned to the code: `tracer signoff {bug_id} {item_id}` pins it)"
        )
    return tested


def _proof_summary(evidence: BugEvidence, item_id: str, current_id: str) -> str:
    """"fails before the fix, passes after: `test_a`; passes before too: `test_b` (on cpython 3.11 / linux)"."""
    parts = []
    for file in evidence.environments:
        verdicts = file.proof.items.get(item_id, {}) if file.proof else {}
        if not verdicts or file.proof is None:
            continue
        by_verdict: dict[str, list[str]] = {}
        for test_id, verdict in sorted(verdicts.items()):
            by_verdict.setdefault(verdict.description, []).append(test_id)
        summary = "; ".join(f"{verdict}: {short_tests(tests)}" for verdict, tests in sorted(by_verdict.items()))
        older = "" if file.proof.code in ("", current_id) else ", on code that has since changed"
        parts.append(f"{summary} (on {file.environment.label}{older})")
    return " | ".join(parts)


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
