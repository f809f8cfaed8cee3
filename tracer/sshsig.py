"""SSH signatures, as `ssh-keygen -Y` makes and checks them, and the allowed signers files that say
whose keys count (the mechanism git uses for signed commits).

ssh-keygen is always run with a list argv, stdin closed (or holding the message), in a session of
its own (no terminal to open), with askpass off and a timeout: it never prompts and never hangs. It
is looked up on PATH without relative entries or folders inside the current one, so a repository
cannot plant its own.
What a signature says about itself (its key, its namespace) is read here in Python, for messages
and for choosing the allowed signers line; whether it is true is only ever ssh-keygen's answer.

An allowed signers line may end, in its comment (which ssh-keygen ignores, so the file stays
usable by plain `ssh-keygen -Y verify`), with `tracer-environments="device=cuda* python=3.12"`:
that signer is trusted only where every `fact=pattern` matches; several such words are
alternatives, and `tracer-environments="signoffs"` names the sign-offs, which have no facts."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from tracer.fileio import UnsafeFile, read_regular
from tracer.problems import TracerError, shown_path

ENVIRONMENTS_WORD = "tracer-environments"
SIGNOFFS_PATTERN = "signoffs"
MAX_ALLOWED_SIGNERS = 1024 * 1024  # bytes
SIGN_TIMEOUT = 60.0  # seconds: a hardware key may wait for a touch
VERIFY_TIMEOUT = 20.0

_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_OPTION = re.compile(r'(?:cert-authority|(?:namespaces|valid-after|valid-before)="[^"]*")')
_ENVIRONMENTS = re.compile(rf'(?<!\S){ENVIRONMENTS_WORD}=(?:"(?P<value>[^"]*)"|(?P<bare>\S*))')
_SHA256_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


class SshError(TracerError):
    """ssh-keygen could not sign, could not read a key, or did not answer in time."""


class SshKeygenMissing(SshError):
    """No ssh-keygen on PATH: nothing can be signed or verified (exit 2, never a finding per file)."""


def key_fingerprint(blob: bytes) -> str:
    """As ssh-keygen -l shows it: SHA256: and the unpadded base64 of the key blob's sha256."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# Allowed signers


@dataclass(frozen=True)
class EnvironmentPattern:
    """One `tracer-environments="..."` word: every `fact=pattern` must match, or the sign-offs."""

    terms: tuple[tuple[str, str], ...] = ()
    signoffs: bool = False

    def matches(self, facts: Mapping[str, str]) -> bool:
        if self.signoffs:
            return not facts
        return bool(facts) and all(name in facts and fnmatchcase(facts[name], glob) for name, glob in self.terms)

    def __str__(self) -> str:
        return SIGNOFFS_PATTERN if self.signoffs else " ".join(f"{n}={g}" for n, g in self.terms)


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an allowed signers file."""

    line: int
    text: str  # the line as written, to hand ssh-keygen
    principals: str
    key_type: str
    key_blob: bytes
    cert_authority: bool = False
    environments: tuple[EnvironmentPattern, ...] | None = None  # None: trusted for every environment

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key_blob)

    @property
    def identity(self) -> str:
        """The name to verify as (`-I`): the first principal the line does not negate."""
        return next((p for p in self.principals.split(",") if p and not p.startswith("!")), self.principals)

    def trusts(self, facts: Mapping[str, str]) -> bool:
        return self.environments is None or any(p.matches(facts) for p in self.environments)


@dataclass(frozen=True)
class AllowedSigners:
    """An allowed signers file: the lines that could be read, and why each other one could not."""

    path: str  # as shown in findings
    signers: tuple[AllowedSigner, ...] = ()
    problems: tuple[tuple[int, str], ...] = ()  # (line, why)

    def for_key(self, blob: bytes) -> list[AllowedSigner]:
        """The plain-key lines of this key (a certificate authority's line never matches a key)."""
        return [s for s in self.signers if not s.cert_authority and s.key_blob == blob]

    def for_fingerprint(self, fingerprint: str) -> list[AllowedSigner]:
        return [s for s in self.signers if not s.cert_authority and s.fingerprint == fingerprint]


def parse_allowed_signers(text: str, shown: str) -> AllowedSigners:
    """The lines ssh-keygen would use, and a reason for each line it would skip (it skips them
    silently, so a typo would quietly distrust a signer)."""
    signers, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            signers.append(_parse_signer_line(number, line))
        except ValueError as error:
            problems.append((number, str(error)))
    return AllowedSigners(shown, tuple(signers), tuple(problems))


def _parse_signer_line(number: int, line: str) -> AllowedSigner:
    principals, _, rest = line.replace("\t", " ").partition(" ")
    rest = rest.lstrip(" ")
    if not principals or len(rest.split()) < 2:
        raise ValueError("expected: principals [options] key-type base64-key [comment]")
    options = ""
    first = rest.split(None, 1)[0]
    if first not in _KEY_TYPES and not first.endswith("-cert-v01@openssh.com"):
        options, rest = _split_options(rest)
    parts = rest.split(None, 2)
    if len(parts) < 2:
        raise ValueError("no key after the principals and options")
    key_type, encoded = parts[0], parts[1]
    if key_type not in _KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}")
    try:
        blob = base64.b64decode(encoded, validate=True)
        inner = _Wire(blob).string()
    except (binascii.Error, ValueError):
        raise ValueError("the key is not valid base64 of an SSH public key") from None
    if inner != key_type.encode():
        raise ValueError(f"the key is a {inner.decode('ascii', 'replace')!r} key, not {key_type!r}")
    return AllowedSigner(
        number,
        line,
        principals,
        key_type,
        blob,
        "cert-authority" in options.split(","),
        _environment_patterns(parts[2] if len(parts) > 2 else ""),
    )


def _split_options(text: str) -> tuple[str, str]:
    """ssh's options field (up to the first unquoted blank), checked as ssh-keygen checks it."""
    end, quoted = 0, False
    while end < len(text) and (quoted or text[end] != " "):
        quoted ^= text[end] == '"'
        end += 1
    if quoted:
        raise ValueError("an option's quotes are not closed")
    options, parts, current = text[:end], [], ""
    for char in options:  # split on the commas outside quotes
        if char == "," and current.count('"') % 2 == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    for option in [*parts, current]:
        if not _OPTION.fullmatch(option):
            raise ValueError(
                f"unknown option {option.split('=', 1)[0]!r} (ssh-keygen knows cert-authority, "
                "namespaces, valid-after, valid-before; tracer's word goes in the comment)"
            )
    return options, text[end:].lstrip(" ")


def _environment_patterns(comment: str) -> tuple[EnvironmentPattern, ...] | None:
    found = list(_ENVIRONMENTS.finditer(comment))
    if not found:
        return None
    patterns = []
    for match in found:
        value = match.group("value")
        if value is None:
            raise ValueError(f'{ENVIRONMENTS_WORD} needs a quoted value, like {ENVIRONMENTS_WORD}="device=cuda*"')
        words = value.split()
        if words == [SIGNOFFS_PATTERN]:
            patterns.append(EnvironmentPattern(signoffs=True))
            continue
        terms = []
        for word in words:
            name, equals, glob = word.partition("=")
            if not (name and equals and glob):
                raise ValueError(f"{ENVIRONMENTS_WORD}: {word!r} is not fact=pattern (or the word signoffs)")
            terms.append((name, glob))
        if not terms:
            raise ValueError(f"{ENVIRONMENTS_WORD} is empty: name the facts, like device=cuda*")
        patterns.append(EnvironmentPattern(tuple(terms)))
    return tuple(patterns)


def read_allowed_signers(path: Path, shown: str | None = None) -> AllowedSigners:
    """An allowed signers file, or a TracerError naming it where it cannot be read at all."""
    shown = shown or shown_path(path)
    try:
        data = read_regular(path, MAX_ALLOWED_SIGNERS, follow=True)
    except FileNotFoundError:
        raise TracerError("allowed signers file not found", shown) from None
    except UnsafeFile as error:
        raise TracerError(f"allowed signers file: {error}", shown) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TracerError(
            "allowed signers file is not valid UTF-8", shown, data[: error.start].count(b"\n") + 1
        ) from None
    return parse_allowed_signers(text, shown)


# Signatures


class _Wire:
    """SSH's wire encoding (RFC 4251): uint32 lengths before strings, bounds always checked."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.uint32())


@dataclass(frozen=True)
class SshSignature:
    """What an armored SSH signature says about itself (ssh-keygen decides whether it is true)."""

    key_type: str
    key_blob: bytes
    namespace: str

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key_blob)

    @property
    def by_certificate(self) -> bool:
        return self.key_type.endswith("-cert-v01@openssh.com")


def parse_signature(data: bytes) -> SshSignature:
    """The key and namespace of an `-----BEGIN SSH SIGNATURE-----` block (OpenSSH's PROTOCOL.sshsig),
    or ValueError saying why not."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("not an SSH signature: it is not ASCII text") from None
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != "-----BEGIN SSH SIGNATURE-----":
        raise ValueError("not an SSH signature: no BEGIN SSH SIGNATURE line")
    if lines[-1] != "-----END SSH SIGNATURE-----":
        raise ValueError("the signature is truncated: no END SSH SIGNATURE line")
    try:
        wire = _Wire(base64.b64decode("".join(lines[1:-1]), validate=True))
    except binascii.Error:
        raise ValueError("the signature is not valid base64") from None
    try:
        if wire.take(6) != b"SSHSIG":
            raise ValueError("it does not start with SSHSIG")
        version = wire.uint32()
        if version != 1:
            raise ValueError(f"signature version {version} is not 1")
        key_blob, namespace = wire.string(), wire.string()
        for _ in ("reserved", "hash algorithm", "signature"):  # ssh-keygen checks the signature itself
            wire.string()
        return SshSignature(_Wire(key_blob).string().decode("ascii"), key_blob, namespace.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"the signature cannot be read: {error}") from None


def ssh_keygen(
    args: Sequence[str], message: bytes | None = None, timeout: float = VERIFY_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """Run ssh-keygen so that it can never prompt: a list argv, stdin closed (or the message), a new
    session (no terminal to open), askpass off, and a timeout."""
    executable = shutil.which("ssh-keygen", path=_trusted_path())
    if executable is None:
        raise SshKeygenMissing(
            "ssh-keygen not found: install OpenSSH's client (the openssh-client package) to sign or verify evidence"
        )
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_ASKPASS")}
    environment["SSH_ASKPASS_REQUIRE"] = "never"
    try:
        return subprocess.run(
            [executable, *args],
            input=message,
            stdin=None if message is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        raise SshError(f"ssh-keygen did not finish within {timeout:g} seconds") from None
    except OSError as error:
        raise SshError(f"ssh-keygen cannot be run: {error.strerror}") from None


def _trusted_path() -> str:
    """PATH without its relative entries (an empty one means the current folder) and without the
    folders inside the current one: an `ssh-keygen` a repository plants is never the one run."""
    here = Path.cwd().resolve()
    kept = []
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        with contextlib.suppress(OSError):
            if not Path(entry).resolve().is_relative_to(here):
                kept.append(entry)
    return os.pathsep.join(kept)


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    """ssh-keygen's own words, on one line."""
    text = (result.stderr + b"\n" + result.stdout).decode("utf-8", "replace")
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith(("Signing file", "Write signature"))
    ]
    return "; ".join(lines[-3:]) or f"exit status {result.returncode}"


def key_of(key: Path) -> str:
    """The SHA256 fingerprint of a signing key (from its public half: no passphrase asked)."""
    result = ssh_keygen(["-l", "-E", "sha256", "-f", str(key)])
    found = _SHA256_FINGERPRINT.search(result.stdout.decode("ascii", "replace"))
    if result.returncode or found is None:
        raise SshError(f"not an SSH key ssh-keygen can read: {_said(result)}", shown_path(key))
    return found.group(0)


def sign(message: bytes, key: Path, namespace: str) -> bytes:
    """An SSH signature of `message` with `key`. ssh-keygen writes `<file>.sig` beside what it
    signs (and would ask before replacing one), so it signs a copy in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="tracer-sign-") as folder:
        copy = Path(folder) / "message"
        copy.write_bytes(message)
        result = ssh_keygen(["-Y", "sign", "-n", namespace, "-f", str(key), str(copy)], timeout=SIGN_TIMEOUT)
        produced = copy.with_name(copy.name + ".sig")
        if result.returncode or not produced.is_file():
            hint = ""
            if "passphrase" in _said(result).lower():
                hint = "; a key with a passphrase must be held by ssh-agent (ssh-add it): tracer never prompts"
            raise SshError(f"cannot sign with this key: {_said(result)}{hint}", shown_path(key))
        return produced.read_bytes()


def verifies(message: bytes, signature: bytes, signer: AllowedSigner, namespace: str) -> tuple[bool, str]:
    """Whether ssh-keygen accepts the signature as `signer`'s, trusting that one line only, and
    what it said."""
    with tempfile.TemporaryDirectory(prefix="tracer-verify-") as folder:
        allowed, sig = Path(folder) / "allowed_signers", Path(folder) / "message.sig"
        allowed.write_text(signer.text + "\n", encoding="utf-8")
        sig.write_bytes(signature)
        result = ssh_keygen(
            ["-Y", "verify", "-f", str(allowed), "-I", signer.identity, "-n", namespace, "-s", str(sig)],
            message=message,
        )
    return result.returncode == 0, _said(result)


def signature_valid(message: bytes, signature: bytes, namespace: str) -> bool:
    """Whether the signature is good for the message, whoever made it (no allowed signers)."""
    with tempfile.TemporaryDirectory(prefix="tracer-verify-") as folder:
        sig = Path(folder) / "message.sig"
        sig.write_bytes(signature)
        return ssh_keygen(["-Y", "check-novalidate", "-n", namespace, "-s", str(sig)], message=message).returncode == 0
