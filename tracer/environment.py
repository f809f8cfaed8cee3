"""Where tests ran: Python, platform and the facts a project adds, and the file name that holds
that environment's evidence."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from tracer.fileio import safe_name

SIGNOFFS = "signoffs"  # the file of sign-offs, beside the environment files: the environment of no facts
RESERVED_STEMS = frozenset({SIGNOFFS})  # names no environment's file may take
ATTESTATION_SUFFIX = ".intoto.json"  # `<stem>.intoto.json` beside `<stem>.json` is its signed statement (tracer.attest)


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
        head = [
            f"{facts.pop('implementation', 'python')} {facts.pop('python', '?')}".strip(),
            facts.pop("platform", ""),
        ]
        return " / ".join([part for part in head if part] + [f"{k} {v}" for k, v in sorted(facts.items())])

    @property
    def file_stem(self) -> str:
        """A file name that says which environment it holds, and differs for different facts
        (`signoffs` for none: the sign-offs hold in every environment). No environment's facts
        can produce a reserved name: they would replace the sign-offs, or pass for an attestation."""
        if not self.facts:
            return SIGNOFFS
        facts = self.as_dict
        words = [f"{facts.pop('implementation', '')}{facts.pop('python', '')}", facts.pop("platform", "")]
        words += [f"{k}-{v}" for k, v in sorted(facts.items())]
        raw = "-".join(word for word in words if word)
        slug = safe_name(raw)[:80] or "environment"
        ambiguous = any(not re.fullmatch(r"[A-Za-z0-9._]+", part) for fact in self.facts for part in fact)
        reserved = slug.casefold() in RESERVED_STEMS or (slug + ".json").endswith(ATTESTATION_SUFFIX)
        if slug != raw or ambiguous or reserved:  # "-" inside facts is ambiguous
            slug += "-" + hashlib.sha256(json.dumps(self.facts).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return slug


def python_environment() -> dict[str, str]:
    """The facts every run records: Python's version and implementation, and the platform."""
    return {
        "implementation": sys.implementation.name,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platform": sys.platform,
    }
