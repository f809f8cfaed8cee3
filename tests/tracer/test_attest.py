"""Signed evidence: each runner signs the results it produced, and the gate accepts only evidence
signed by a key the project trusts for that environment, unchanged since it was signed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import commit_all, make_files
from tests.tracer.conftest import BUG
from tracer.attest import NAMESPACE, statement_mismatch
from tracer.cli import main
from tracer.config import load_config
from tracer.environment import Environment
from tracer.evidence import Outcome, record_results
from tracer.scanner import iter_tagged
from tracer.sources import scan_project
from tracer.sshsig import parse_allowed_signers, parse_signature

FACTS = {"implementation": "cpython", "python": "3.11", "platform": "linux"}
CPU = Environment.of({**FACTS, "device": "cpu"})
GPU = Environment.of({**FACTS, "device": "cuda NVIDIA H200"})
FOLDER = f"docs/bug_reports/evidence/{BUG.lower()}"
CPU_FILE = f"{FOLDER}/{CPU.file_stem}.json"
GPU_FILE = f"{FOLDER}/{GPU.file_stem}.json"
SIGNOFFS_FILE = f"{FOLDER}/signoffs.json"
TEST = "tests/test_step.py::test_step"


def make_key(folder: Path, name: str, passphrase: str = "") -> Path:
    """A throw-away ed25519 key; the test is skipped where OpenSSH's ssh-keygen is absent."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs OpenSSH's ssh-keygen")
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", str(key)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return key


def public(key: Path) -> str:
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def fingerprint(key: Path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)], capture_output=True, text=True
    ).stdout.split()[1]


@pytest.fixture
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: make_key(folder, name) for name in ("cpu", "gpu", "lead", "stranger")}


def allowed_signers(keys: dict[str, Path]) -> str:
    return (
        "# who may sign which evidence\n"
        f'cpu-runner namespaces="{NAMESPACE}" {public(keys["cpu"])} tracer-environments="device=cpu" tracer-environments="signoffs"\n'
        f'gpu-runner namespaces="{NAMESPACE}" {public(keys["gpu"])} tracer-environments="device=cuda*"\n'
        f"lead {public(keys['lead'])} lead@example.invalid\n"
    )


def record(root: Path, environment: Environment, outcome: Outcome = Outcome.PASSED) -> None:
    config = load_config(root)
    record_results(config, BUG, iter_tagged(scan_project(config), BUG), environment, [("edge-cases", TEST, outcome)])


@pytest.fixture
def runners(clean: Path, keys) -> Path:
    """The small project with results from a CPU runner and a GPU runner, its sign-offs pinned, and
    an allowed_signers file that trusts each runner's key for its own environment only."""
    make_files(clean, {"tests/test_step.py": "def test_step():\n    pass\n", "allowed_signers": allowed_signers(keys)})
    record(clean, CPU)
    record(clean, GPU)
    return clean


def attest(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["evidence", "attest", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def sign_as_runners(capsys, keys) -> None:
    assert attest(capsys, "--key", str(keys["cpu"]), CPU_FILE, SIGNOFFS_FILE)[0] == 0
    assert attest(capsys, "--key", str(keys["gpu"]), GPU_FILE)[0] == 0


def check(capsys, *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["check", "--allowed-signers", "allowed_signers", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def signature_findings(lines: list[str]) -> list[str]:
    return [
        line for line in lines if any(f" {code} " in line for code in ("C303", "C304", "C305", "C306", "C307", "C308"))
    ]


def test_evidence_signed_by_each_runner_passes_the_gate(runners, keys, capsys):
    sign_as_runners(capsys, keys)
    assert main(["render", "--all"]) == 0
    code, lines, err = check(capsys)
    assert (code, lines) == (0, []), lines
    assert err.strip() == "tracer check: 0 errors, 0 warnings"
    assert sorted(p.name for p in (runners / FOLDER).iterdir()) == sorted(
        f"{stem}{suffix}"
        for stem in (CPU.file_stem, GPU.file_stem, "signoffs")
        for suffix in (".json", ".intoto.json", ".intoto.json.sig")
    )


def test_an_outcome_edited_by_hand_after_signing_fails_naming_the_file(runners, keys, capsys):
    record(runners, CPU, Outcome.FAILED)
    sign_as_runners(capsys, keys)
    evidence = runners / CPU_FILE
    evidence.write_text(evidence.read_text().replace('"failed"', '"passed"'))
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{CPU_FILE}:1: C307 evidence of cpython 3.11 / linux / device cpu: statement does not match: "
        "the file changed after it was signed (its sha256 is not the one signed)"
    ]


def test_an_unsigned_file_fails(runners, keys, capsys):
    assert attest(capsys, "--key", str(keys["gpu"]), GPU_FILE)[0] == 0
    assert attest(capsys, "--key", str(keys["cpu"]), SIGNOFFS_FILE)[0] == 0
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{CPU_FILE}:1: C303 evidence of cpython 3.11 / linux / device cpu: unsigned: no attestation "
        f"{CPU.file_stem}.intoto.json; sign it with tracer evidence attest"
    ]


def test_a_key_not_in_the_allowed_signers_fails(runners, keys, capsys):
    sign_as_runners(capsys, keys)
    assert attest(capsys, "--key", str(keys["stranger"]), GPU_FILE)[0] == 0
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{GPU_FILE}:1: C305 evidence of cpython 3.11 / linux / device cuda NVIDIA H200: unknown key: signed with key "
        f"{fingerprint(keys['stranger'])}, which is not in allowed_signers"
    ]


def test_a_cpu_runner_cannot_sign_a_gpu_pass(runners, keys, capsys):
    sign_as_runners(capsys, keys)
    assert attest(capsys, "--key", str(keys["cpu"]), GPU_FILE)[0] == 0  # no allowed signers configured: it signs
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{GPU_FILE}:1: C306 evidence of cpython 3.11 / linux / device cuda NVIDIA H200: not trusted for this environment: "
        f"signed by cpu-runner (key {fingerprint(keys['cpu'])}), who is trusted only for environments matching "
        "device=cpu or signoffs (allowed_signers:2)"
    ]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "another namespace", "another statement"])
def test_a_damaged_signature_fails_naming_the_file(runners, keys, capsys, damage):
    sign_as_runners(capsys, keys)
    signature = runners / FOLDER / f"{GPU.file_stem}.intoto.json.sig"
    text = signature.read_text()
    if damage == "truncated":
        signature.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        signature.write_bytes(b"\xff\x00not a signature")
    elif damage == "empty":
        signature.write_text("")
    elif damage == "another namespace":
        statement = runners / FOLDER / f"{GPU.file_stem}.intoto.json"
        made = subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(keys["gpu"])],
            input=statement.read_bytes(),
            capture_output=True,
            check=True,
        )
        signature.write_bytes(made.stdout)
    else:  # a good signature of other bytes
        other = runners / FOLDER / f"{GPU.file_stem}.intoto.json"
        other.write_text(other.read_text().replace('"pass"', '"fail"'))
    code, lines, _ = check(capsys)
    assert code == 1
    found = signature_findings(lines)
    assert len(found) == 1 and found[0].startswith(
        f"{GPU_FILE}:1: C304 evidence of cpython 3.11 / linux / device cuda NVIDIA H200: bad signature: "
    )
    reason = found[0].split("bad signature: ", 1)[1]
    assert {
        "truncated": "the signature is truncated",
        "garbage": "not an SSH signature",
        "empty": "not an SSH signature",
        "another namespace": "is signed for namespace 'git', not tracer-evidence@v1",
        "another statement": "the signature does not verify",
    }[damage] in reason


def test_a_statement_copied_from_another_file_fails(runners, keys, capsys):
    assert attest(capsys, "--key", str(keys["lead"]), CPU_FILE, GPU_FILE, SIGNOFFS_FILE)[0] == 0
    for suffix in (".intoto.json", ".intoto.json.sig"):
        shutil.copy(runners / FOLDER / f"{CPU.file_stem}{suffix}", runners / FOLDER / f"{GPU.file_stem}{suffix}")
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{GPU_FILE}:1: C307 evidence of cpython 3.11 / linux / device cuda NVIDIA H200: statement does not match: "
        f"the statement is about another file ({CPU_FILE!r})"
    ]


def test_bad_lines_of_the_allowed_signers_are_findings_and_the_good_lines_still_count(runners, keys, capsys):
    sign_as_runners(capsys, keys)
    key = public(keys["lead"])
    with (runners / "allowed_signers").open("a") as handle:
        handle.write(
            "just-a-name\n"
            f"someone no-such-option {key}\n"
            "someone ssh-ed25519 not+base64!\n"
            f"someone ecdsa-sha2-nistp256 {key.split()[1]}\n"
            f'someone namespaces="unclosed {key}\n'
            f'someone {key} tracer-environments="device"\n'
        )
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        "allowed_signers:5: C308 allowed signers line skipped: expected: principals [options] key-type base64-key [comment]",
        "allowed_signers:6: C308 allowed signers line skipped: unknown option 'no-such-option' (ssh-keygen knows cert-authority, "
        "namespaces, valid-after, valid-before; tracer's word goes in the comment)",
        "allowed_signers:7: C308 allowed signers line skipped: the key is not valid base64 of an SSH public key",
        "allowed_signers:8: C308 allowed signers line skipped: the key is a 'ssh-ed25519' key, not 'ecdsa-sha2-nistp256'",
        "allowed_signers:9: C308 allowed signers line skipped: an option's quotes are not closed",
        "allowed_signers:10: C308 allowed signers line skipped: tracer-environments: 'device' is not fact=pattern (or the word signoffs)",
    ]


def test_exit_codes(runners, keys, capsys, monkeypatch, tmp_path_factory):
    """As the README's table says: 0 clean, 1 findings, 2 usage or input error."""
    sign_as_runners(capsys, keys)
    assert main(["render", "--all"]) == 0
    assert check(capsys)[0] == 0
    (runners / CPU_FILE).write_text((runners / CPU_FILE).read_text().replace("passed", "failed"))
    assert check(capsys)[0] == 1
    capsys.readouterr()
    assert main(["check", "--allowed-signers", "no-such-file"]) == 2
    assert "no-such-file: allowed signers file not found" in capsys.readouterr().err
    assert attest(capsys, CPU_FILE)[0] == 2  # no key
    code, _, err = attest(capsys, "--key", str(keys["cpu"]), "allowed_signers")
    assert code == 2 and "allowed_signers: not an evidence file of this project" in err
    code, _, err = attest(capsys, "--key", "no-such-key", CPU_FILE)
    assert code == 2 and "no-such-key: no such signing key" in err
    bin_folder = tmp_path_factory.mktemp("bin")
    (bin_folder / "git").symlink_to(shutil.which("git") or "git")
    monkeypatch.setenv("PATH", str(bin_folder))
    code, _, err = check(capsys)
    assert code == 2 and "ssh-keygen not found: install OpenSSH's client" in err
    assert attest(capsys, "--key", str(keys["cpu"]), CPU_FILE)[0] == 2


def test_a_key_with_a_passphrase_and_no_agent_is_an_error_never_a_prompt(
    runners, tmp_path_factory, capsys, monkeypatch
):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = make_key(tmp_path_factory.mktemp("locked"), "locked", passphrase="secret words")
    code, _, err = attest(capsys, "--key", str(key), CPU_FILE)
    assert code == 2
    assert f"{key.name}: cannot sign with this key" in err.replace(str(key.parent) + "/", "")
    assert "must be held by ssh-agent (ssh-add it): tracer never prompts" in err
    assert not (runners / FOLDER / f"{CPU.file_stem}.intoto.json").exists()


@pytest.mark.skipif(shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None, reason="needs ssh-agent")
def test_a_key_with_a_passphrase_held_by_ssh_agent_signs(runners, tmp_path_factory, capsys, monkeypatch):
    folder = tmp_path_factory.mktemp("agent")
    key = make_key(folder, "locked", passphrase="secret words")
    askpass = folder / "askpass"
    askpass.write_text("#!/bin/sh\necho 'secret words'\n")
    askpass.chmod(0o700)
    socket = folder / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-s", "-a", str(socket)], capture_output=True, text=True, check=True).stdout
    pid = int(agent.split("SSH_AGENT_PID=", 1)[1].split(";", 1)[0])
    try:
        environment = {
            **os.environ,
            "SSH_AUTH_SOCK": str(socket),
            "SSH_ASKPASS": str(askpass),
            "SSH_ASKPASS_REQUIRE": "force",
        }
        subprocess.run(
            ["ssh-add", "-q", str(key)], env=environment, check=True, stdin=subprocess.DEVNULL, start_new_session=True
        )
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        assert attest(capsys, "--key", str(key), CPU_FILE)[0] == 0
    finally:
        os.kill(pid, signal.SIGTERM)
    assert (runners / FOLDER / f"{CPU.file_stem}.intoto.json.sig").is_file()


def test_re_attesting_unchanged_evidence_writes_nothing(runners, keys, capsys):
    sign_as_runners(capsys, keys)
    files = sorted((runners / FOLDER).iterdir())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    commit_all(runners, "a new commit: the evidence is the same")
    code, out, _ = attest(capsys, "--key", str(keys["cpu"]), CPU_FILE)
    assert code == 0 and out == f"{CPU_FILE}: its signature holds, nothing written\n"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((runners / FOLDER).iterdir())} == before
    record(runners, CPU, Outcome.FAILED)
    code, out, _ = attest(capsys, "--key", str(keys["cpu"]), CPU_FILE)
    assert code == 0 and out.startswith(f"signed {CPU_FILE} with key SHA256:")
    assert (runners / FOLDER / f"{CPU.file_stem}.intoto.json").read_bytes() != before[
        runners / FOLDER / f"{CPU.file_stem}.intoto.json"
    ][0]


def test_without_files_attest_signs_what_needs_it_and_keeps_another_signers_signature(runners, keys, capsys):
    assert attest(capsys, "--key", str(keys["gpu"]), GPU_FILE)[0] == 0
    gpu_signature = (runners / FOLDER / f"{GPU.file_stem}.intoto.json.sig").read_bytes()
    code, out, _ = attest(capsys, "--key", str(keys["cpu"]))
    assert code == 0
    assert out.splitlines() == [
        f"signed {CPU_FILE} with key {fingerprint(keys['cpu'])}",
        f"{GPU_FILE}: its signature holds, nothing written",
        f"signed {SIGNOFFS_FILE} with key {fingerprint(keys['cpu'])}",
    ]
    assert (runners / FOLDER / f"{GPU.file_stem}.intoto.json.sig").read_bytes() == gpu_signature
    assert signature_findings(check(capsys)[1]) == []


def test_allowed_signers_in_pyproject_are_the_default_and_attest_keeps_to_them(runners, keys, capsys):
    pyproject = runners / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'allowed_signers = "allowed_signers"\n')
    capsys.readouterr()
    assert main(["check"]) == 1
    assert {line.split()[1] for line in signature_findings(capsys.readouterr().out.splitlines())} == {"C303"}
    code, out, err = attest(capsys, "--key", str(keys["cpu"]))
    assert code == 1
    assert err == (
        f"tracer: {GPU_FILE}: not signed: key {fingerprint(keys['cpu'])} is not trusted for this environment "
        "in allowed_signers\n"
    )
    assert [line.split()[1] for line in out.splitlines()] == [CPU_FILE, SIGNOFFS_FILE]
    assert attest(capsys, "--key", str(keys["gpu"]))[0] == 0
    assert main(["render", "--all"]) == 0
    capsys.readouterr()
    assert main(["check"]) == 0


def test_the_document_says_who_signed_each_environment(runners, keys, capsys):
    assert main(["render", BUG, "-o", "-"]) == 0
    assert "Signatures of the evidence" not in capsys.readouterr().out  # a project that does not sign sees no change
    sign_as_runners(capsys, keys)
    pyproject = runners / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'allowed_signers = "allowed_signers"\n')
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    text = capsys.readouterr().out
    assert (
        "Signatures of the evidence, as recorded (`tracer check --allowed-signers` verifies them):\n"
        f"- cpython 3.11 / linux / device cpu: signed by cpu-runner, key {fingerprint(keys['cpu'])}\n"
        f"- cpython 3.11 / linux / device cuda NVIDIA H200: signed by gpu-runner, key {fingerprint(keys['gpu'])}\n"
        f"- sign-offs: signed by cpu-runner, key {fingerprint(keys['cpu'])}\n"
    ) in text
    (runners / CPU_FILE).write_text((runners / CPU_FILE).read_text().replace("passed", "failed"))
    assert main(["render", BUG, "-o", "-"]) == 0
    assert (
        "- cpython 3.11 / linux / device cpu: statement does not match: the file changed after it was signed"
        in capsys.readouterr().out
    )


def test_check_json_and_evidence_verify_carry_who_signed(runners, keys, capsys):
    record(runners, CPU, Outcome.FAILED)
    sign_as_runners(capsys, keys)
    assert attest(capsys, "--key", str(keys["stranger"]), GPU_FILE)[0] == 0
    code, lines, _ = check(capsys, "--format", "json")
    findings = json.loads("\n".join(lines))
    item = next(f for f in findings if f["code"] == "C301")["item"]
    assert {r["environment"]: r["signature"].get("by") for r in item["results"]} == {
        "cpython 3.11 / linux / device cpu": "cpu-runner",
        "cpython 3.11 / linux / device cuda NVIDIA H200": None,
    }
    assert next(f for f in findings if f["code"] == "C305")["signature"] == {
        "path": GPU_FILE,
        "environment": "cpython 3.11 / linux / device cuda NVIDIA H200",
        "state": "unknown key",
        "key": fingerprint(keys["stranger"]),
        "reason": f"signed with key {fingerprint(keys['stranger'])}, which is not in allowed_signers",
    }
    capsys.readouterr()
    assert main(["evidence", "verify", "--allowed-signers", "allowed_signers", "--format", "json"]) == 1
    listed = {s["path"]: (s["state"], s.get("by")) for s in json.loads(capsys.readouterr().out)}
    assert listed == {
        CPU_FILE: ("verified", "cpu-runner"),
        GPU_FILE: ("unknown key", None),
        SIGNOFFS_FILE: ("verified", "cpu-runner"),
    }


def test_plain_ssh_keygen_verifies_what_tracer_signed(runners, keys, capsys):
    """The README's promise: no tracer needed to check a signature and the file it names."""
    sign_as_runners(capsys, keys)
    statement = runners / FOLDER / f"{GPU.file_stem}.intoto.json"
    result = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            "allowed_signers",
            "-I",
            "gpu-runner",
            "-n",
            NAMESPACE,
            "-s",
            f"{statement}.sig",
        ],
        input=statement.read_bytes(),
        capture_output=True,
        cwd=runners,
    )
    assert result.returncode == 0, result.stderr
    subject = json.loads(statement.read_text())["subject"][0]
    assert subject == {
        "name": GPU_FILE,
        "digest": {"sha256": hashlib.sha256((runners / GPU_FILE).read_bytes()).hexdigest()},
    }


def test_merge_carries_a_files_signature_and_refuses_one_that_does_not_hold(runners, keys, capsys, tmp_path_factory):
    sign_as_runners(capsys, keys)
    artifact = tmp_path_factory.mktemp("artifact")
    for suffix in (".json", ".intoto.json", ".intoto.json.sig"):
        shutil.move(runners / FOLDER / f"{GPU.file_stem}{suffix}", artifact / f"{GPU.file_stem}{suffix}")
    capsys.readouterr()
    assert main(["evidence", "merge", str(artifact / f"{GPU.file_stem}.json")]) == 0
    assert capsys.readouterr().out == f"wrote {GPU_FILE} and its signature\n"
    assert signature_findings(check(capsys)[1]) == []
    tampered = artifact / f"{GPU.file_stem}.json"
    tampered.write_text(tampered.read_text().replace("passed", "failed"))
    before = (runners / GPU_FILE).read_bytes()
    capsys.readouterr()
    assert main(["evidence", "merge", str(tampered)]) == 2
    assert (
        f"{tampered}:1: the file changed after it was signed: its attestation names other bytes"
        in capsys.readouterr().err
    )
    assert (runners / GPU_FILE).read_bytes() == before


def test_merging_an_unsigned_file_removes_the_signature_of_the_file_it_replaces(
    runners, keys, capsys, tmp_path_factory
):
    sign_as_runners(capsys, keys)
    artifact = tmp_path_factory.mktemp("artifact") / f"{GPU.file_stem}.json"
    shutil.copy(runners / GPU_FILE, artifact)
    record(runners, GPU, Outcome.FAILED)  # the project's file changes; the artifact is the old, unsigned copy
    assert main(["evidence", "merge", str(artifact)]) == 0
    assert not (runners / FOLDER / f"{GPU.file_stem}.intoto.json").exists()
    assert [line.split()[1] for line in signature_findings(check(capsys)[1])] == ["C303"]


def test_a_linked_attestation_is_refused(runners, keys, capsys, tmp_path_factory):
    sign_as_runners(capsys, keys)
    outside = tmp_path_factory.mktemp("outside")
    for suffix in (".intoto.json", ".intoto.json.sig"):
        planted = runners / FOLDER / f"{CPU.file_stem}{suffix}"
        shutil.move(planted, outside / planted.name)
        planted.symlink_to(outside / planted.name)
    code, lines, _ = check(capsys)
    assert code == 1
    assert signature_findings(lines) == [
        f"{CPU_FILE}:1: C304 evidence of cpython 3.11 / linux / device cpu: bad signature: "
        f"{CPU.file_stem}.intoto.json is a symbolic link: tracer reads only the file itself"
    ]


def test_without_allowed_signers_nothing_changes(runners, capsys):
    capsys.readouterr()
    assert main(["check"]) == 1  # the documents are stale: the fixture added results
    assert signature_findings(capsys.readouterr().out.splitlines()) == []


def test_an_environment_named_like_an_attestation_gets_a_file_of_its_own():
    stem = Environment.of({**FACTS, "tag": "x.intoto"}).file_stem
    assert not stem.endswith(".intoto") and stem.startswith("cpython3.11-linux-tag-x.intoto-")


def test_the_plugin_signs_the_runs_evidence(project, monkeypatch, capsys, tmp_path_factory):
    key = make_key(tmp_path_factory.mktemp("keys"), "runner")
    monkeypatch.chdir(project.path)
    result = project.runpytest_subprocess(f"--tracer-sign-key={key}")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines([f"tracer: signed docs/bug_reports/evidence/{BUG.lower()}/*.json with key SHA256:*"])
    (project.path / "allowed_signers").write_text(f"runner {public(key)}\n")
    capsys.readouterr()
    main(["check", "--allowed-signers", "allowed_signers"])
    assert signature_findings(capsys.readouterr().out.splitlines()) == []
    signed = sorted(p for p in (project.path / "docs/bug_reports/evidence").rglob("*.intoto.json*"))
    before = [p.read_bytes() for p in signed]
    monkeypatch.setenv("TRACER_SIGN_KEY", str(key))
    result = project.runpytest_subprocess()
    assert "tracer: signed" not in result.stdout.str()  # the same results: the signature still holds
    assert [p.read_bytes() for p in signed] == before


@given(st.binary(max_size=600))
@settings(max_examples=200, deadline=None)
def test_any_bytes_as_a_signature_are_read_or_named_never_raised(data):
    armored = b"-----BEGIN SSH SIGNATURE-----\n" + data + b"\n-----END SSH SIGNATURE-----\n"
    for candidate in (data, armored):
        try:
            parse_signature(candidate)
        except ValueError as error:
            assert str(error)


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_text_as_allowed_signers_gives_lines_or_reasons(text):
    signers = parse_allowed_signers(text, "allowed_signers")
    assert all(isinstance(line, int) and why for line, why in signers.problems)


@given(st.binary(max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_bytes_as_a_statement_are_a_reason_never_an_error(data):
    expected = {"subject": [{"name": "x.json", "digest": {"sha256": "0"}}], "predicate": {}}
    assert statement_mismatch(data, expected)


def test_a_signed_statement_that_names_other_code_fails(runners, keys, capsys):
    """A statement whose signature is good but whose fingerprints are not the ones the file
    records: the signer vouched for other code."""
    sign_as_runners(capsys, keys)
    statement = runners / FOLDER / f"{CPU.file_stem}.intoto.json"
    data = json.loads(statement.read_text())
    for subject in data["subject"]:
        if "tracerFingerprint2" in subject["digest"]:
            subject["digest"]["tracerFingerprint2"] = "0" * 16
    statement.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    signed = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", NAMESPACE, "-f", str(keys["cpu"])],
        input=statement.read_bytes(),
        capture_output=True,
        check=True,
    )
    (runners / FOLDER / f"{CPU.file_stem}.intoto.json.sig").write_bytes(signed.stdout)
    assert signature_findings(check(capsys)[1]) == [
        f"{CPU_FILE}:1: C307 evidence of cpython 3.11 / linux / device cpu: statement does not match: "
        "the statement names other code (fingerprints) than the file records"
    ]


def test_attest_refuses_a_broken_evidence_file_and_signs_the_others(runners, keys, capsys):
    (runners / GPU_FILE).write_text("{not json")
    code, out, err = attest(capsys, "--key", str(keys["lead"]))
    assert code == 2
    assert f"tracer: {GPU_FILE}:1: evidence file is not valid JSON" in err
    assert [line.split()[1] for line in out.splitlines()] == [CPU_FILE, SIGNOFFS_FILE]


def test_an_ssh_keygen_planted_in_the_repository_is_never_run(runners, keys, capsys, monkeypatch):
    sign_as_runners(capsys, keys)
    planted = runners / "bin" / "ssh-keygen"
    planted.parent.mkdir()
    planted.write_text(f"#!/bin/sh\ntouch {runners / 'ran'}\nexit 0\n")
    planted.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join(["", "bin", str(runners / "bin"), os.environ["PATH"]]))
    code, lines, _ = check(capsys)
    assert signature_findings(lines) == [] and not (runners / "ran").exists()
