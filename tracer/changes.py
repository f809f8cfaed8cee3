"""What `tracer prove --changes` found for each change block of a fix, as the evidence keeps it:
which linked tests fail when that block alone is put back to its pre-fix form."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class ChangeStatus(StrEnum):
    CAUGHT = "caught"  # a linked test that passes on the current code fails without the block
    NOT_CAUGHT = "not caught"  # every linked test still passes without it
    NO_CODE_CHANGE = "no code change"  # comments, blank lines or docstrings only: nothing to run
    DOES_NOT_PARSE = "does not parse"  # its pre-fix form, put back alone, is not valid Python
    DOES_NOT_IMPORT = "does not import"  # without it, a linked test's module cannot even be collected
    TIMED_OUT = "timed out"  # the linked tests ran past the time limit without it
    UNAVAILABLE = "no pre-fix form"  # neither git nor the committed diffs tell its pre-fix form

    @property
    def finding(self) -> bool:
        """Whether the block asks for attention: a block that no test catches, or could not be tried."""
        return self not in (ChangeStatus.CAUGHT, ChangeStatus.NO_CODE_CHANGE)


@dataclass(frozen=True, order=True)
class ChangeResult:
    path: str
    start_line: int  # in the code the proof ran on; a block the fix deleted has end_line = start_line - 1
    end_line: int
    qualname: str
    status: ChangeStatus
    caught_by: tuple[str, ...] = ()  # test ids
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "qualname": self.qualname,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "status": self.status.value,
            "caught_by": list(self.caught_by),
            "message": self.message,
        }


@dataclass(frozen=True)
class ChangeProof:
    """`tracer prove --changes` in one environment."""

    revision: str  # the pre-fix revision as named (a commit id where git knows it)
    code: str  # the code id of the fingerprints the blocks were taken from
    source: str  # "git", or "committed diffs" where the revision is not in the clone
    results: tuple[ChangeResult, ...]

    def without_tests(self, gone: set[str]) -> ChangeProof:
        """The proof without the tests in `gone` (tests the project does not have): a block they
        alone caught is caught by none."""
        results = []
        for result in self.results:
            caught_by = tuple(t for t in result.caught_by if t not in gone)
            status = (
                ChangeStatus.NOT_CAUGHT if result.status is ChangeStatus.CAUGHT and not caught_by else result.status
            )
            results.append(replace(result, caught_by=caught_by, status=status))
        return replace(self, results=tuple(results))

    def to_data(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "code": self.code,
            "source": self.source,
            "blocks": [result.as_dict() for result in sorted(self.results)],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ChangeProof:
        """From data the evidence schema has accepted."""
        return cls(
            data["revision"],
            data["code"],
            data["source"],
            tuple(
                ChangeResult(
                    b["path"],
                    b["start_line"],
                    b["end_line"],
                    b["qualname"],
                    ChangeStatus(b["status"]),
                    tuple(b["caught_by"]),
                    b.get("message", ""),
                )
                for b in data["blocks"]
            ),
        )
