"""The evidence store: which linked tests ran, where, how they ended, and on what code; manual
sign-offs; proofs. The one module that writes evidence, through its operations
(`record_results`, `forget_missing_tests`, `record_signoffs`, `pin_report_signoffs`,
`record_proof`, `record_change_proof`, `merge_files`): each fingerprints the bug's tagged code
and updates the files under the bug's lock, so no caller does its own read-fingerprint-write.

Evidence of a bug is a folder, `<evidence_dir>/<bug id>/`, with one JSON file per environment
(Python, platform and the facts a project adds, such as its device), so a run replaces only its
own environment's results, results from another machine are added by copying or merging a file,
and two branches that each ran somewhere else merge in git without a conflict. `signoffs.json`
beside them holds manual sign-offs. Files are deterministic (sorted, no times, no commit ids): a
rerun on unchanged code writes the same bytes. Every file is checked against a versioned JSON
Schema (`tracer/schemas/`) when it is read: schema 2 adds, to each result, the tagged scopes its
test ran and their lines (`executed`, as line ranges of the scope's logical lines: tracer.lines),
and the lines seen to run at import (`imported`); files of schema 1 are still read, their results
with no executed lines (a run rewrites them as schema 2)."""

from __future__ import annotations

import contextlib
import json
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from tracer.cache import ContentCache, digest_of
from tracer.changes import ChangeProof
from tracer.config import Config
from tracer.environment import ATTESTATION_SUFFIX, SIGNOFFS, Environment
from tracer.escape import json_text
from tracer.fileio import atomic_write, project_lock, safe_name
from tracer.fingerprint import FINGERPRINT_SCHEME, code_id, fingerprints
from tracer.guard import UnsafePath, inside, read_bytes, read_named, write_target
from tracer.lines import parse_ranges
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.tags import TaggedScope
from tracer.testids import ProjectTests

SCHEMA_VERSION = 2  # of the evidence file written (tracer/schemas/evidence-2.schema.json)
READ_VERSIONS = (1, 2)  # 1: no executed lines; its results read as "rerun the tests" for them
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


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    outcome: Outcome
    code: str  # the code id of the fingerprints the test ran on
    source: str = ""  # "" for tracer's pytest plugin; "junit" for `tracer evidence import-junit`
    executed: tuple[tuple[str, str], ...] | None = None  # (scope, line ranges) it ran; None: not recorded

    @property
    def scopes(self) -> frozenset[str] | None:
        """The tagged scopes the test ran (None where that was not recorded)."""
        return None if self.executed is None else frozenset(scope for scope, _ in self.executed)


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
    changes: ChangeProof | None = None  # tracer prove --changes
    imported: dict[str, str] = field(default_factory=dict)  # scope run at import -> the line ranges seen to run

    def to_json(self) -> str:
        used = {r.code for tests in self.items.values() for r in tests.values()} | {
            s.code for s in self.signoffs.values()
        }
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "fingerprint_scheme": self.scheme,
            "bug_id": self.bug_id,
            "environment": self.environment.as_dict,
            "fingerprints": {k: dict(sorted(v.items())) for k, v in sorted(self.fingerprints.items()) if k in used},
            "items": {
                item: {test: _result_json(r) for test, r in sorted(tests.items())}
                for item, tests in sorted(self.items.items())
                if tests
            },
        }
        if self.imported:
            data["imported"] = dict(sorted(self.imported.items()))
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
                "items": {
                    i: {t: v.value for t, v in sorted(tests.items())} for i, tests in sorted(self.proof.items.items())
                },
            }
        if self.changes is not None:
            data["changes"] = self.changes.to_data()
        return json_text(data, indent=2, sort_keys=True) + "\n"  # lone surrogates as \\udcxx: valid UTF-8

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
                item: {
                    test: TestResult(
                        Outcome(r["outcome"]), r["code"], r.get("source", ""), _executed(r.get("executed"))
                    )
                    for test, r in tests.items()
                }
                for item, tests in data["items"].items()
            },
            imported=dict(data.get("imported", {})),
            signoffs={
                item: SignOff(s["by"], s["reason"], s["code"], s.get("from_report", False))
                for item, s in data.get("signoffs", {}).items()
            },
            proof=None
            if proof is None
            else Proof(
                proof["revision"],
                proof["repeat"],
                {i: {t: Verdict(v) for t, v in tests.items()} for i, tests in proof["items"].items()},
                proof.get("code", ""),
            ),
            changes=ChangeProof.from_data(data["changes"]) if "changes" in data else None,
        )

    def remember(self, prints: Mapping[str, str]) -> str:
        identity = code_id(prints)
        self.fingerprints[identity] = dict(prints)
        return identity

    def record(
        self,
        item_id: str,
        test_id: str,
        outcome: Outcome,
        prints: Mapping[str, str],
        source: str = "",
        executed: Mapping[str, str] | None = None,
    ) -> None:
        """A test's result, with the scopes and lines it ran where they were recorded; a skip
        never replaces a pass or a failure the test had in this environment."""
        tests = self.items.setdefault(item_id, {})
        if outcome is Outcome.SKIPPED and test_id in tests and tests[test_id].outcome is not Outcome.SKIPPED:
            return
        tests[test_id] = TestResult(outcome, self.remember(prints), source, _executed(executed))

    def forget(self, keep: Callable[[str, str], bool]) -> None:
        """Keep the results `keep(item, test)` says are still linked and present."""
        self.items = {item: {t: r for t, r in tests.items() if keep(item, t)} for item, tests in self.items.items()}
        self.items = {item: tests for item, tests in self.items.items() if tests}


def _executed(data: Mapping[str, str] | None) -> tuple[tuple[str, str], ...] | None:
    return None if data is None else tuple(sorted((str(k), str(v)) for k, v in data.items()))


def _result_json(result: TestResult) -> dict[str, Any]:
    data: dict[str, Any] = {"outcome": result.outcome.value, "code": result.code}
    if result.source:
        data["source"] = result.source
    if result.executed is not None:
        data["executed"] = dict(result.executed)
    return data


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


def checked_folder(config: Config, bug_id: str) -> Path:
    """The bug's evidence folder, where it lies inside the project; EvidenceError where the
    evidence folder (or the bug's) is a symlink out of it: never read, never written."""
    folder = evidence_folder(config, bug_id)
    try:
        inside(config.root, folder)
    except UnsafePath:
        raise EvidenceError(
            "the evidence folder leads out of the project (through a symlink): "
            "evidence there is neither read nor written",
            folder.relative_to(config.root).as_posix(),
        ) from None
    return folder


def evidence_files(config: Config, bug_id: str) -> list[Path]:
    """The bug's evidence files: regular files inside the project only. A FIFO, a folder or a
    link out of the project named `*.json` is never opened (it would hang or leak a read)."""
    folder = checked_folder(config, bug_id)
    if not folder.is_dir():
        return []
    root = config.root.resolve()
    files = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(ATTESTATION_SUFFIX):
            continue  # a signed statement about the file beside it (tracer.attest), not evidence
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
def _schema_text(version: int = SCHEMA_VERSION) -> str:
    return (SCHEMA_FILE.parent / f"evidence-{version}.schema.json").read_text(encoding="utf-8")


@cache
def _schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_schema_text(version))
    return loaded


MESSAGE_VALUE_CHARS = 200  # of a value quoted in a message: a schema error never repeats a huge value


def _shorter(text: str) -> str:
    return text if len(text) <= MESSAGE_VALUE_CHARS else text[:MESSAGE_VALUE_CHARS] + f"... ({len(text):,} characters)"


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unencodable(data: Any, where: str = "") -> str | None:
    """Where the data holds a lone surrogate that no file name can hold (JSON allows "\\ud800";
    text does not), or None."""
    if isinstance(data, str):
        return (
            where or "the top level"
            if any("\ud800" <= c <= "\udc7f" or "\udd00" <= c <= "\udfff" for c in data)
            else None
        )
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        path = f"{where}/{key}" if where else str(key)
        found = _unencodable(key, path) if isinstance(key, str) else None
        found = found or _unencodable(value, path)
        if found:
            return found
    return None


def validate_evidence(text: str, shown: str, cache_folder: Path | None = None) -> dict[str, Any]:
    """The file's data, or EvidenceError naming the file and the reason. A file whose exact bytes
    were valid before is not validated again (jsonschema costs a tenth of a second to import)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise EvidenceError(
            f"evidence file is not valid JSON: {_shorter(str(error))}", shown, getattr(error, "lineno", 1)
        ) from None
    except RecursionError:
        raise EvidenceError("evidence file is not valid: nested too deeply", shown, 1) from None
    broken = _unencodable(data) if _SURROGATE_ESCAPE.search(text) else None
    if broken:
        raise EvidenceError(
            f"evidence file is not valid: a lone surrogate (\\ud800-\\udfff) at {_shorter(broken)} is no text", shown, 1
        )
    declared = data.get("schema_version") if isinstance(data, dict) else None
    version = (
        declared
        if isinstance(declared, int) and not isinstance(declared, bool) and declared in READ_VERSIONS
        else SCHEMA_VERSION
    )
    store = ContentCache(cache_folder)
    key = "valid-" + digest_of(_schema_text(version), text)
    if store.get(key) is None:
        import jsonschema

        errors = sorted(
            jsonschema.Draft202012Validator(_schema(version)).iter_errors(data), key=lambda e: list(e.absolute_path)
        )
        if errors:
            where = "/".join(str(part) for part in errors[0].absolute_path) or "the top level"
            raise EvidenceError(
                f"evidence file is not valid: it breaks schema {version} at {_shorter(where)}: "
                f"{_shorter(errors[0].message)}; "
                "fix or delete the file and rerun the tests",
                shown,
                1,
            )
        _check_ranges(data, shown)
        store.put(key, "valid")
    valid: dict[str, Any] = data  # the schema says it is an object
    return valid


def _check_ranges(data: dict[str, Any], shown: str) -> None:
    """Line ranges the schema's pattern lets through but no writer writes ("5-2", "3,1")."""
    places = [
        (f"items/{item}/{test}/executed/{scope}", text)
        for item, tests in data.get("items", {}).items()
        for test, result in tests.items()
        for scope, text in result.get("executed", {}).items()
    ]
    places += [(f"imported/{scope}", text) for scope, text in data.get("imported", {}).items()]
    for where, text in places:
        try:
            parse_ranges(text)
        except ValueError as error:
            raise EvidenceError(
                f"evidence file is not valid: at {where}: {error}; fix or delete the file and rerun the tests", shown, 1
            ) from None


def load_evidence_file(config: Config, path: Path) -> EvidenceFile:
    shown = path.relative_to(config.root).as_posix()
    try:
        text = read_bytes(config.root, path, config.max_evidence_bytes, "max_evidence_bytes", "evidence file").decode(
            "utf-8"
        )
    except UnsafePath as error:
        raise EvidenceError(error.message, shown, 1) from None
    except UnicodeDecodeError:
        raise EvidenceError("evidence file is not valid UTF-8", shown, 1) from None
    data = validate_evidence(text, shown, config.cache("evidence"))
    evidence = EvidenceFile.from_data(data)
    expected = evidence.environment.file_stem
    if path.stem != expected:
        raise EvidenceError(
            f"evidence file of environment {evidence.environment.label!r} must be named {expected}.json", shown, 1
        )
    return evidence


def load_evidence(config: Config, bug_id: str) -> BugEvidence:
    """Every evidence file of a bug; EvidenceError for the first one that cannot be trusted."""
    files: dict[str, EvidenceFile] = {}
    for path in evidence_files(config, bug_id):
        evidence = load_evidence_file(config, path)
        if evidence.bug_id.casefold() != bug_id.casefold():
            raise EvidenceError(
                f"evidence file holds {evidence.bug_id}, not {bug_id}", path.relative_to(config.root).as_posix(), 1
            )
        files[path.stem] = evidence
    return BugEvidence(bug_id, files)


def evidence_lock(config: Config, bug_id: str) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock for one bug's evidence."""
    return project_lock(config.path(config.cache_dir), config.root, bug_id.lower())


@contextlib.contextmanager
def _updated(config: Config, bug_id: str, environment: Environment) -> Iterator[EvidenceFile]:
    """Read, change and write one environment's evidence file under the bug's lock, so that two
    pytest processes finishing at once both land their results. A file that cannot be trusted
    raises EvidenceError before anything is written."""
    path = checked_folder(config, bug_id) / f"{environment.file_stem}.json"
    with evidence_lock(config, bug_id):
        evidence = load_evidence_file(config, path) if path.is_file() else EvidenceFile(bug_id, environment)
        before = evidence.to_json() if path.is_file() else ""
        if evidence.scheme != FINGERPRINT_SCHEME:  # results of another scheme cannot be compared: start afresh
            evidence = EvidenceFile(bug_id, environment)
        yield evidence
        after = evidence.to_json()
        if after != before:
            atomic_write(write_target(config.root, path), after)


# The operations: the only code that writes evidence


def record_results(
    config: Config,
    bug_id: str,
    tagged: Iterable[TaggedScope],
    environment: Environment,
    results: Iterable[tuple[str, str, Outcome]],
    source: str = "",
    executed: Mapping[str, Mapping[str, str]] | None = None,
    imported: Mapping[str, str] | None = None,
) -> None:
    """Record (item, test, outcome) results of one run in its environment's file, on the bug's
    tagged code as it is now; `source` marks results another runner reported ("junit"). With
    them, the scopes and line ranges each test ran (`executed`, by test id; a test not in it has
    its execution unrecorded) and the lines seen to run at import (`imported`: they replace
    those recorded before)."""
    prints = fingerprints(config.root, tagged)
    with _updated(config, bug_id, environment) as evidence:
        for item_id, test_id, outcome in results:
            evidence.record(
                item_id, test_id, outcome, prints, source, None if executed is None else executed.get(test_id)
            )
        if imported:
            evidence.imported = dict(imported)


def record_signoffs(
    config: Config,
    report: BugReport,
    tagged: Iterable[TaggedScope],
    sign_offs: Mapping[str, tuple[str, str]],
    from_report: bool = False,
    revoked: Iterable[str] = (),
) -> None:
    """Record sign-offs, item -> (by, reason), pinned to the bug's code as it is now: each goes
    stale when that code changes. `revoked` items lose theirs."""
    items = [i.id for i in report.checklist]
    for item_id in sign_offs:
        if item_id not in items:
            raise TracerError(
                f"{report.bug_id} has no checklist item {item_id!r} (items: {', '.join(items)})",
                report.path,
                report.line_of("checklist"),
            )
    prints = fingerprints(config.root, tagged)
    with _updated(config, report.bug_id, Environment(())) as evidence:
        for item_id, (by, reason) in sign_offs.items():
            evidence.signoffs[item_id] = SignOff(by, reason, evidence.remember(prints), from_report)
        for item_id in revoked:
            evidence.signoffs.pop(item_id, None)


def unpinned_signoffs(
    report: BugReport, recorded: Mapping[str, SignOff]
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """The report's `manual:` sign-offs not pinned yet (or that say something else now), and the
    items whose pinned sign-off came from a `manual:` entry the report no longer has."""
    manual = {item.id: item.manual for item in report.checklist if item.manual is not None}
    unpinned = {
        item_id: (entry.by, entry.reason)
        for item_id, entry in manual.items()
        if item_id not in recorded or (recorded[item_id].by, recorded[item_id].reason) != (entry.by, entry.reason)
    }
    revoked = sorted(
        item_id for item_id, sign_off in recorded.items() if sign_off.from_report and item_id not in manual
    )
    return unpinned, revoked


def pin_report_signoffs(config: Config, report: BugReport, tagged: Iterable[TaggedScope]) -> None:
    """Keep the report's manual sign-offs pinned to the code: pin those not pinned yet to the code
    as it is now, and drop those the report no longer has. A test run does this; rendering never
    does (a document only shows what is recorded)."""
    recorded = load_evidence(config, report.bug_id).signoffs
    unpinned, revoked = unpinned_signoffs(report, recorded)
    if unpinned or revoked:
        record_signoffs(config, report, tagged, unpinned, from_report=True, revoked=revoked)


def record_proof(
    config: Config, bug_id: str, tagged: Iterable[TaggedScope], environment: Environment, proof: Proof
) -> None:
    """Keep what `tracer prove` found with the evidence of the environment its tests ran in, with
    the code id of the code the fixed side ran on."""
    if not environment.facts:
        return
    code = code_id(fingerprints(config.root, tagged))
    with _updated(config, bug_id, environment) as stored:
        stored.proof = Proof(proof.revision, proof.repeat, proof.items, code)


def record_change_proof(
    config: Config, bug_id: str, tagged: Iterable[TaggedScope], environment: Environment, proof: ChangeProof
) -> None:
    """Keep what `tracer prove --changes` found with the evidence of the environment its tests ran
    in, with the code id of the code its blocks were taken from."""
    if not environment.facts:
        return
    code = code_id(fingerprints(config.root, tagged))
    with _updated(config, bug_id, environment) as stored:
        stored.changes = ChangeProof(proof.revision, code, proof.source, proof.results)


def forget_missing_tests(
    config: Config,
    bug_id: str,
    collected: Mapping[str, set[tuple[str, str]]],
    partial: set[str],
    environment: Environment,
) -> None:
    """Drop results that are really gone: a test whose file is gone (in every environment); a test
    collected in this run that no longer links to the item (in every environment: links are
    code); a test whose file was collected whole in this run without it (in this run's
    environment only: a test generated only where a GPU is present must not vanish from the GPU's
    results). `collected` maps each collected test to its (bug, item) links."""
    collected_files = {test_id.partition("::")[0] for test_id in collected} - partial
    tests = project_tests(config)
    for path in evidence_files(config, bug_id):
        if path.stem == SIGNOFFS:
            continue
        this_environment = path.stem == environment.file_stem

        def keep(item_id: str, test_id: str, this_environment: bool = this_environment) -> bool:
            test_file = test_id.partition("::")[0]
            if test_id not in tests:  # its file or its test is gone, or it never named one
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
                atomic_write(write_target(config.root, path), evidence.to_json())


def project_tests(config: Config) -> ProjectTests:
    """The project's tests, as evidence may name them: under the test roots, defined in their files."""
    return ProjectTests(config.root, config.test_roots, config.max_evidence_bytes, ContentCache(config.cache("tests")))


CHANGES_ITEM = "(prove --changes)"  # where a change block's test is named, as ghost_tests reports it


def ghost_tests(evidence: EvidenceFile, tests: ProjectTests) -> list[tuple[str, str, str]]:
    """(item, test id, why) of each result, proof verdict or change block's catching test whose
    test the project does not have."""
    ghosts = []
    named = [(item, test) for item, results in evidence.items.items() for test in results]
    if evidence.proof is not None:
        named += [(item, test) for item, verdicts in evidence.proof.items.items() for test in verdicts]
    if evidence.changes is not None:
        named += [(CHANGES_ITEM, test) for block in evidence.changes.results for test in block.caught_by]
    for item, test_id in sorted(set(named)):
        problem = tests.problem(test_id)
        if problem is not None:
            ghosts.append((item, test_id, problem))
    return ghosts


@dataclass(frozen=True)
class Ghost:
    """A result (or a proof's verdict) of a test the project does not have: it counts for nothing."""

    file: str  # the evidence file's stem
    item: str
    test_id: str
    reason: str


def without_ghosts(evidence: BugEvidence, tests: ProjectTests) -> tuple[BugEvidence, tuple[Ghost, ...]]:
    """The bug's evidence with only the results and proofs of tests the project has, and the others."""
    files: dict[str, EvidenceFile] = {}
    ghosts: list[Ghost] = []
    for stem, file in evidence.files.items():
        found = ghost_tests(file, tests)
        if not found:
            files[stem] = file
            continue
        ghosts += [Ghost(stem, item, test_id, why) for item, test_id, why in found]
        gone = {(item, test_id) for item, test_id, _ in found}
        kept = EvidenceFile(file.bug_id, file.environment, file.scheme, file.fingerprints, signoffs=file.signoffs)
        kept.items = {
            item: {t: r for t, r in results.items() if (item, t) not in gone} for item, results in file.items.items()
        }
        if file.proof is not None:
            verdicts = {
                item: {t: v for t, v in tests_.items() if (item, t) not in gone}
                for item, tests_ in file.proof.items.items()
            }
            kept.proof = Proof(file.proof.revision, file.proof.repeat, verdicts, file.proof.code)
        if file.changes is not None:
            kept.changes = file.changes.without_tests({t for item, t in gone if item == CHANGES_ITEM})
        files[stem] = kept
    return BugEvidence(evidence.bug_id, files), tuple(ghosts)


def merge_files(config: Config, sources: Iterable[Path], reports: Mapping[str, BugReport]) -> list[Path]:
    """Add evidence files written elsewhere (another machine, a CI artifact) to the project's:
    each replaces the project's file of the same bug and environment. Every file is checked
    (size, schema, text, a bug with a report, its items, an environment, tests the project has)
    and every file's bytes made before any is written: one bad file and nothing is written.
    `reports` holds the project's reports by lowercase bug ID. Returns what it wrote."""
    tests = project_tests(config)
    planned: dict[Path, tuple[str, str]] = {}  # where -> (bug, text)
    for source in sources:
        shown = str(source)
        try:
            text = read_named(
                config.root, source, config.max_evidence_bytes, "max_evidence_bytes", "evidence file"
            ).decode("utf-8")
        except UnsafePath as error:
            raise EvidenceError(error.message, shown, 1) from None
        except UnicodeDecodeError:
            raise EvidenceError("evidence file is not valid UTF-8", shown, 1) from None
        evidence = EvidenceFile.from_data(validate_evidence(text, shown))
        report = reports.get(evidence.bug_id.lower())
        if report is None:
            raise EvidenceError(
                f"evidence of {_shorter(repr(evidence.bug_id))}, which has no bug report here", shown, 1
            )
        if not evidence.environment.facts:
            raise EvidenceError(
                "a file of sign-offs: record sign-offs with tracer signoff, on this project's code", shown, 1
            )
        unknown = sorted(set(evidence.items) - {i.id for i in report.checklist})
        if unknown:
            raise EvidenceError(
                _shorter(f"evidence for items {report.bug_id} does not have: {', '.join(unknown)}"), shown, 1
            )
        ghosts = ghost_tests(evidence, tests)
        if ghosts:
            item, test_id, why = ghosts[0]
            more = f" (and {len(ghosts) - 1} more)" if len(ghosts) > 1 else ""
            raise EvidenceError(
                f"item {item!r}: test {_shorter(repr(test_id))} {why}{more}; only tests the project has count", shown, 1
            )
        evidence.bug_id = report.bug_id
        target = write_target(
            config.root, checked_folder(config, report.bug_id) / f"{evidence.environment.file_stem}.json"
        )
        planned[target] = (report.bug_id, evidence.to_json())
        planned[target][1].encode("utf-8", "surrogateescape")  # what atomic_write will do: fails here, before any write
    written = []
    for target, (bug_id, text) in planned.items():
        with evidence_lock(config, bug_id):
            atomic_write(target, text)
        written.append(target)
    return written
