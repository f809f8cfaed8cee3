"""Signed evidence: an in-toto statement about each evidence file, signed and verified with
`ssh-keygen -Y` (tracer.sshsig), so that results from machines CI cannot rerun are not taken on trust.

Beside `<environment>.json` lie `<environment>.intoto.json`, an in-toto Statement v1 with the
test-result predicate, and `<environment>.intoto.json.sig`, an SSH signature of exactly those bytes
in the namespace `tracer-evidence@v1`. A plain statement with a detached signature rather than a DSSE
envelope: `ssh-keygen -Y verify -f allowed_signers -I NAME -n tracer-evidence@v1 -s X.sig < X` checks
it with no tracer, and any in-toto or JSON tool reads the statement as it is. An SSH signature inside
a DSSE envelope would be read by neither: DSSE verifiers expect a raw signature over DSSE's own
pre-authentication encoding, and ssh-keygen signs its own SSHSIG wrapping.

The statement's subjects are the evidence file (sha256 of its bytes), the commit it was signed on
(gitCommit) and the fingerprints of the bug's tagged scopes the results ran on (`tracerFingerprint2`:
the first 16 hex digits of a sha256 over the scope's tokens, tracer.fingerprint's scheme 2). Its
predicate lists the tests that passed and failed and the environment they ran in.

Verification reads no cache: a cache in the work tree is something a pull request could plant."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from tracer.config import Config
from tracer.environment import ATTESTATION_SUFFIX
from tracer.evidence import EvidenceError, EvidenceFile, Outcome, evidence_files, load_evidence_file
from tracer.fileio import UnsafeFile, atomic_write, read_regular
from tracer.gitio import head_commit
from tracer.problems import shown_path
from tracer.sshsig import (
    AllowedSigners,
    SshError,
    SshKeygenMissing,
    SshSignature,
    key_of,
    parse_signature,
    read_allowed_signers,
    sign,
    signature_valid,
    verifies,
)

NAMESPACE = "tracer-evidence@v1"  # the ssh-keygen -n namespace: a signature for git or ssh login never passes as one
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
SIGNATURE_SUFFIX = ".sig"
MAX_STATEMENT = 8 * 1024 * 1024  # bytes: a statement is a few kilobytes; a bigger file is not ours
MAX_SIGNATURE = 64 * 1024


class SignatureState(StrEnum):
    """What an evidence file's signature shows. Only `tracer check` finds VERIFIED: the documents
    read the files without ssh-keygen (their text must not depend on the machine) and say SIGNED."""

    VERIFIED = "verified"
    SIGNED = "signed"  # a readable signature whose statement names the file as it is: not checked here
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad signature"  # unreadable, truncated, another namespace, or it does not verify
    UNKNOWN_KEY = "unknown key"
    NOT_TRUSTED_HERE = "not trusted for this environment"
    MISMATCH = "statement does not match"  # edited after signing, another file's statement, other code


@dataclass(frozen=True)
class Signature:
    """The signature of one evidence file, as check and the documents tell it."""

    path: str  # the evidence file, as the project names it
    environment: str  # its label
    state: SignatureState
    reason: str = ""  # why, for every state but VERIFIED and SIGNED
    principal: str = ""  # the signer's name in the allowed signers, where known
    key: str = ""  # SHA256:... of the signing key, where the signature could be read
    bug_id: str = ""

    @property
    def sentence(self) -> str:
        """For example "signed by gpu-runner, key SHA256:...", as the document shows it."""
        if self.state in (SignatureState.VERIFIED, SignatureState.SIGNED):
            return f"signed by {self.principal}, key {self.key}" if self.principal else f"signed with key {self.key}"
        if self.state is SignatureState.UNSIGNED:
            return "not signed"
        return f"{self.state}: {self.reason}"

    @property
    def as_dict(self) -> dict[str, str]:
        data = {
            "path": self.path,
            "environment": self.environment,
            "state": str(self.state),
            "by": self.principal,
            "key": self.key,
            "reason": self.reason,
        }
        return {k: v for k, v in data.items() if v}


def attestation_path(evidence: Path) -> Path:
    return evidence.with_name(evidence.stem + ATTESTATION_SUFFIX)


def signature_path(evidence: Path) -> Path:
    return evidence.with_name(evidence.stem + ATTESTATION_SUFFIX + SIGNATURE_SUFFIX)


def project_signers(config: Config, given: Path | None = None) -> AllowedSigners | None:
    """The allowed signers named on the command line, else by `[tool.tracer] allowed_signers`, else None."""
    if given is not None:
        return read_allowed_signers(given)
    if not config.allowed_signers:
        return None
    return read_allowed_signers(config.path(config.allowed_signers), config.allowed_signers)


# Statements


def statement_of(config: Config, path: Path, evidence: EvidenceFile, data: bytes, commit: str | None) -> dict[str, Any]:
    """The in-toto statement about one evidence file, from its bytes and what they say."""
    subjects: list[dict[str, Any]] = [
        {"name": path.relative_to(config.root).as_posix(), "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
    ]
    if commit:
        subjects.append({"name": "commit", "digest": {"gitCommit": commit}})
    algorithm = f"tracerFingerprint{evidence.scheme}"
    for code, prints in sorted(evidence.fingerprints.items()):
        for scope, digest in sorted(prints.items()):
            subjects.append({"name": scope, "digest": {algorithm: digest}, "annotations": {"tracerCode": code}})
    outcomes: dict[str, set[Outcome]] = {}
    for tests in evidence.items.values():
        for test, result in tests.items():
            outcomes.setdefault(test, set()).add(result.outcome)
    failed = sorted(t for t, seen in outcomes.items() if Outcome.FAILED in seen)
    passed = sorted(t for t, seen in outcomes.items() if Outcome.PASSED in seen and Outcome.FAILED not in seen)
    facts = evidence.environment.as_dict
    configuration = {
        "name": "environment" if facts else "sign-offs",
        "digest": {"sha256": hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()},
        "annotations": {"bugId": evidence.bug_id, "environment": facts},
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "result": "fail" if failed else "pass",
            "configuration": [configuration],
            "passedTests": passed,
            "warnedTests": [],
            "failedTests": failed,
        },
    }


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    return (json.dumps(statement, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _commit_of(recorded: bytes) -> str | None:
    with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError):
        for subject in json.loads(recorded)["subject"]:
            if subject.get("name") == "commit" and isinstance(subject["digest"]["gitCommit"], str):
                return str(subject["digest"]["gitCommit"])
    return None


def statement_mismatch(recorded: bytes, expected: Mapping[str, Any]) -> str | None:
    """Why a signed statement does not describe the evidence file as it is now (None where it
    does). The commit is not compared: a later commit holding the same evidence is the same
    evidence, and a rebase or a squash merge changes every commit id."""
    try:
        statement = json.loads(recorded)
    except (ValueError, RecursionError):
        return "the attestation is not a JSON in-toto statement"
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        return f"the attestation is not an in-toto statement ({STATEMENT_TYPE})"
    if statement.get("predicateType") != PREDICATE_TYPE:
        return f"the statement's predicate is not {PREDICATE_TYPE}"
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects or not isinstance(subjects[0], dict):
        return "the statement has no subject"
    file_subject, wanted = subjects[0], expected["subject"][0]
    if file_subject.get("name") != wanted["name"]:
        return f"the statement is about another file ({str(file_subject.get('name'))[:200]!r})"
    if file_subject.get("digest") != wanted["digest"]:
        return "the file changed after it was signed (its sha256 is not the one signed)"

    def code(subject_list: list[Any]) -> list[Any]:
        return [s for s in subject_list[1:] if not (isinstance(s, dict) and s.get("name") == "commit")]

    if code(subjects) != code(expected["subject"]):
        return "the statement names other code (fingerprints) than the file records"
    if statement.get("predicate") != expected["predicate"]:
        return "the statement names other tests, outcomes or environment than the file records"
    return None


# Verifying


@dataclass(frozen=True)
class _Signed:
    """An evidence file's attestation as read: the statement, its signature and what that says,
    and the statement the file calls for now."""

    statement: bytes
    signature: bytes
    parsed: SshSignature
    expected: dict[str, Any]


def verify_bug(
    config: Config, bug_id: str, files: Mapping[str, EvidenceFile], signers: AllowedSigners
) -> list[Signature]:
    """Each evidence file of a bug, verified against the allowed signers (`files` by stem)."""
    return [
        dataclasses.replace(verify_file(config, path, files[path.stem], signers), bug_id=bug_id)
        for path in evidence_files(config, bug_id)
        if path.stem in files
    ]


def verify_file(config: Config, path: Path, evidence: EvidenceFile, signers: AllowedSigners) -> Signature:
    """One evidence file's signature: a good signature, by a key the allowed signers trust for the
    file's environment, of a statement that describes the file as it is now."""
    done = _reporter(config, path, evidence)
    read = _read_signed(config, path, evidence, done)
    if isinstance(read, Signature):
        return read
    key = read.parsed.fingerprint
    if read.parsed.by_certificate:
        return done(
            SignatureState.UNKNOWN_KEY,
            f"signed with a certificate ({read.parsed.key_type}); tracer trusts the plain keys of {signers.path} only",
            key=key,
        )
    lines = signers.for_key(read.parsed.key_blob)
    if not lines:
        return done(SignatureState.UNKNOWN_KEY, f"signed with key {key}, which is not in {signers.path}", key=key)
    trusted = [line for line in lines if line.trusts(evidence.environment.as_dict)]
    if not trusted:
        where = ", ".join(f"{signers.path}:{line.line}" for line in lines)
        allowed = "; ".join(" or ".join(str(p) for p in line.environments or ()) for line in lines)
        return done(
            SignatureState.NOT_TRUSTED_HERE,
            f"signed by {lines[0].principals} (key {key}), who is trusted only "
            f"for environments matching {allowed} ({where})",
            lines[0].principals,
            key,
        )
    said = ""
    for line in trusted:
        try:
            good, said = verifies(read.statement, read.signature, line, NAMESPACE)
        except SshKeygenMissing:
            raise
        except SshError as error:  # a timeout: this file's finding, not the run's end
            good, said = False, error.message
        if good:
            mismatch = statement_mismatch(read.statement, read.expected)
            if mismatch is not None:
                return done(SignatureState.MISMATCH, mismatch, line.identity, key)
            return done(SignatureState.VERIFIED, "", line.identity, key)
    return done(SignatureState.BAD_SIGNATURE, f"the signature does not verify: {said}", trusted[0].identity, key)


def recorded_signatures(config: Config, bug_id: str, files: Mapping[str, EvidenceFile]) -> list[Signature]:
    """What each evidence file's signature says, read without ssh-keygen, for the documents (their
    text must be the same on every machine; `tracer check --allowed-signers` is what verifies
    it). Nothing for a project that neither signs nor names allowed signers: its documents stay."""
    signers = project_signers(config)
    paths = [p for p in evidence_files(config, bug_id) if p.stem in files]
    if signers is None and not any(attestation_path(p).exists() or signature_path(p).exists() for p in paths):
        return []
    signatures = []
    for path in paths:
        done = _reporter(config, path, files[path.stem])
        read = _read_signed(config, path, files[path.stem], done)
        if isinstance(read, Signature):
            signatures.append(dataclasses.replace(read, bug_id=bug_id))
            continue
        lines = signers.for_key(read.parsed.key_blob) if signers is not None else []
        principal = lines[0].identity if lines else ""
        mismatch = statement_mismatch(read.statement, read.expected)
        state = SignatureState.SIGNED if mismatch is None else SignatureState.MISMATCH
        signatures.append(
            dataclasses.replace(done(state, mismatch or "", principal, read.parsed.fingerprint), bug_id=bug_id)
        )
    return signatures


def attestation_inputs(config: Config, bug_id: str, evidence: list[Path] | None = None) -> list[bytes | str]:
    """Names and bytes of a bug's attestations and of the allowed signers, for the documents'
    cache keys. `evidence`: the bug's `evidence_files`, where the caller has them."""
    candidates = [(config.path(config.allowed_signers), True)] if config.allowed_signers else []
    for path in evidence_files(config, bug_id) if evidence is None else evidence:
        candidates += [(attestation_path(path), False), (signature_path(path), False)]
    parts: list[bytes | str] = []
    for candidate, follow in candidates:
        try:
            parts += [candidate.name, read_regular(candidate, MAX_STATEMENT, follow=follow)]
        except (OSError, UnsafeFile):
            parts += [candidate.name, "-"]
    return parts


def _reporter(config: Config, path: Path, evidence: EvidenceFile) -> Callable[..., Signature]:
    label = evidence.environment.label if evidence.environment.facts else "sign-offs"
    return partial(Signature, path.relative_to(config.root).as_posix(), label)


def _read_signed(
    config: Config, path: Path, evidence: EvidenceFile, done: Callable[..., Signature]
) -> Signature | _Signed:
    """The file's attestation as read, or the Signature that says why there is nothing to verify."""
    statement_file, signature_file = attestation_path(path), signature_path(path)
    try:
        statement = read_regular(statement_file, MAX_STATEMENT)
        signature = read_regular(signature_file, MAX_SIGNATURE)
    except FileNotFoundError as missing:
        if Path(str(missing.filename)).name == statement_file.name:
            return done(
                SignatureState.UNSIGNED, f"no attestation {statement_file.name}; sign it with tracer evidence attest"
            )
        return done(SignatureState.UNSIGNED, f"its attestation has no signature {signature_file.name}")
    except UnsafeFile as error:
        return done(SignatureState.BAD_SIGNATURE, str(error))
    try:
        parsed = parse_signature(signature)
    except ValueError as error:
        return done(SignatureState.BAD_SIGNATURE, f"{signature_file.name}: {error}")
    if parsed.namespace != NAMESPACE:
        return done(
            SignatureState.BAD_SIGNATURE,
            f"{signature_file.name} is signed for namespace {parsed.namespace[:100]!r}, not {NAMESPACE}",
            key=parsed.fingerprint,
        )
    try:
        data = read_regular(path, MAX_STATEMENT, follow=True)
    except (OSError, UnsafeFile) as error:
        return done(SignatureState.MISMATCH, f"the evidence file cannot be read: {error}")
    return _Signed(statement, signature, parsed, statement_of(config, path, evidence, data, _commit_of(statement)))


# Signing


class Action(StrEnum):
    SIGNED = "signed"
    UNCHANGED = "unchanged"  # its attestation already holds, so nothing is written
    SKIPPED = "skipped"  # the allowed signers do not trust this key for the file's environment
    REFUSED = "refused"  # not a valid evidence file of this project: never signed


@dataclass(frozen=True)
class Attested:
    path: Path
    action: Action
    reason: str = ""


@dataclass(frozen=True)
class Signer:
    """A signing key and its fingerprint."""

    key: Path
    fingerprint: str

    @classmethod
    def of(cls, key: Path) -> Signer:
        """The key at `key`, with its fingerprint asked of ssh-keygen once."""
        if not key.is_file():
            raise SshError("no such signing key", shown_path(key))
        return cls(key, key_of(key))


def attest_files(
    config: Config,
    paths: Iterable[Path],
    signer: Signer,
    signers: AllowedSigners | None = None,
    keep_other_signers: bool = False,
) -> list[Attested]:
    """Sign each evidence file's statement and write it beside the file. A file whose attestation
    still holds (the same statement bar the commit, with a good signature by this key, or by any
    key with `keep_other_signers`) is left as it is. Where `signers` are given, a file of an
    environment they do not trust this key for is skipped, with the reason; a file that is not
    valid evidence of the project is refused, with the reason."""
    done = []
    commit = head_commit(config.root)
    for given in paths:
        try:
            path, evidence = _evidence_to_sign(config, given)
        except EvidenceError as error:  # one bad file is that file's answer; the others are still signed
            done.append(Attested(given, Action.REFUSED, str(error)))
            continue
        statement = statement_of(config, path, evidence, read_regular(path, MAX_STATEMENT, follow=True), commit)
        if _still_holds(path, statement, signer, keep_other_signers):
            done.append(Attested(path, Action.UNCHANGED))
            continue
        if signers is not None:
            lines = signers.for_fingerprint(signer.fingerprint)
            if not any(line.trusts(evidence.environment.as_dict) for line in lines):
                why = "is not trusted for this environment in" if lines else "is not in"
                done.append(Attested(path, Action.SKIPPED, f"key {signer.fingerprint} {why} {signers.path}"))
                continue
        body = statement_bytes(statement)
        write_attestation(path, body, sign(body, signer.key, NAMESPACE))
        done.append(Attested(path, Action.SIGNED))
    return done


def statement_for_file(config: Config, path: Path) -> dict[str, Any]:
    """The statement `attest_files` would sign for one evidence file, on the commit checked out."""
    path, evidence = _evidence_to_sign(config, path)
    return statement_of(
        config, path, evidence, read_regular(path, MAX_STATEMENT, follow=True), head_commit(config.root)
    )


def _evidence_to_sign(config: Config, path: Path) -> tuple[Path, EvidenceFile]:
    """The evidence file at `path`, which must be one of the project's: `<evidence_dir>/<bug>/<x>.json`,
    a regular file (not a link), and valid."""
    folder = config.path(config.evidence_dir)
    absolute = path.absolute()
    try:
        inside = absolute.parent.resolve().parent == folder.resolve()
    except OSError:
        inside = False
    if not inside or absolute.name.endswith(ATTESTATION_SUFFIX) or absolute.suffix != ".json":
        raise EvidenceError(
            f"not an evidence file of this project (those are {config.evidence_dir}/<bug>/<environment>.json)",
            shown_path(path),
        )
    if absolute.is_symlink() or not stat.S_ISREG(absolute.stat().st_mode):
        raise EvidenceError("evidence to sign must be a regular file, not a link", shown_path(path))
    canonical = folder / absolute.parent.name / absolute.name
    return canonical, load_evidence_file(config, canonical)


def _still_holds(path: Path, statement: Mapping[str, Any], signer: Signer, keep_other_signers: bool) -> bool:
    try:
        recorded = read_regular(attestation_path(path), MAX_STATEMENT)
        signature = read_regular(signature_path(path), MAX_SIGNATURE)
        parsed = parse_signature(signature)
    except (OSError, UnsafeFile, ValueError):
        return False
    if parsed.namespace != NAMESPACE or statement_mismatch(recorded, statement) is not None:
        return False
    if not keep_other_signers and parsed.fingerprint != signer.fingerprint:
        return False
    return signature_valid(recorded, signature, NAMESPACE)


def write_attestation(evidence: Path, statement: bytes, signature: bytes) -> None:
    """The one place that writes attestations: the statement and its signature, each atomically,
    beside the evidence file (a link planted there is replaced, never followed)."""
    atomic_write(attestation_path(evidence), statement.decode("utf-8"))
    atomic_write(signature_path(evidence), signature.decode("ascii"))


def remove_attestation(evidence: Path) -> None:
    for path in (attestation_path(evidence), signature_path(evidence)):
        path.unlink(missing_ok=True)


# Merging


@dataclass(frozen=True)
class Carried:
    """An attestation that travels with an evidence file being merged."""

    statement: bytes
    signature: bytes
    name: str  # the file its statement is about, as the project that signed it names it
    digest: str  # the sha256 it signed


def carried_attestations(sources: Iterable[Path]) -> dict[Path, Carried | None]:
    """Each source file's attestation, where it has one; EvidenceError naming the file where its
    attestation does not name its bytes (merging it would carry a signature that cannot hold)."""
    carried: dict[Path, Carried | None] = {}
    for source in sources:
        try:
            statement = read_regular(attestation_path(source), MAX_STATEMENT)
        except FileNotFoundError:
            carried[source] = None
            continue
        except UnsafeFile as error:
            raise EvidenceError(f"its attestation cannot be read: {error}", str(source), 1) from None
        try:
            signature = read_regular(signature_path(source), MAX_SIGNATURE)
        except (FileNotFoundError, UnsafeFile):
            raise EvidenceError(
                f"its attestation {attestation_path(source).name} has no readable signature "
                f"{signature_path(source).name}",
                str(source),
                1,
            ) from None
        try:
            subject = json.loads(statement)["subject"][0]
            name, digest = str(subject["name"]), str(subject["digest"]["sha256"])
        except (ValueError, RecursionError, KeyError, IndexError, TypeError):
            raise EvidenceError(
                f"its attestation {attestation_path(source).name} is not an in-toto statement about it", str(source), 1
            ) from None
        if digest != hashlib.sha256(read_regular(source, MAX_STATEMENT, follow=True)).hexdigest():
            raise EvidenceError(
                "the file changed after it was signed: its attestation names other bytes", str(source), 1
            )
        carried[source] = Carried(statement, signature, name, digest)
    return carried


def place_attestations(
    config: Config, carried: Mapping[Path, Carried | None], written: Iterable[tuple[Path, Path]]
) -> dict[Path, str]:
    """Put each merged file's attestation beside it, or remove the one of the file it replaced;
    returns, by merged file, why an attestation was left behind because it could not hold there."""
    notes = {}
    for source, target in written:
        travelling = carried.get(source)
        remove_attestation(target)
        if travelling is None:
            continue
        name = target.relative_to(config.root).as_posix()
        if travelling.name != name:
            notes[target] = f"merged unsigned: its statement is about {travelling.name}; sign it again"
        elif hashlib.sha256(target.read_bytes()).hexdigest() != travelling.digest:
            notes[target] = "merged unsigned: merging rewrote the file, so its signature would not hold; sign it again"
        else:
            write_attestation(target, travelling.statement, travelling.signature)
    return notes
