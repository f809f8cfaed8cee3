"""A small tagged project in a git repository, as a user would have one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import commit_all, make_files
from tests.tracer.conftest import BUG, report_text

PRE_FIX = {
    "pyproject.toml": '[project]\nname = "demo"\n\n[tool.tracer]\nsource_roots = ["src"]\n',
    "src/demo/step.py": """
        import math


        class Head:
            k = 50

            def step(self, x, y):
                return 1 / (1 + math.exp(-self.k * (x - y)))


        def untouched():
            return 0
        """,
}

FIXED = {
    "src/demo/step.py": f'''
        import math


        class Head:
            k = 50

            def step(self, x, y):
                """Stable step ({BUG})."""
                # {BUG}: Clamp inputs to prevent extreme values
                x = min(max(x, 0.0), 1.0)
                y = min(max(y, 0.0), 1.0)

                # {BUG}: Use a stable sigmoid
                return sigmoid(self.k * (x - y))


        # {BUG}: New helper
        def sigmoid(z):
            return 0.5 * (1 + math.tanh(z / 2))


        def untouched():
            return 0
        ''',
}


ITEMS = """\
  - id: edge-cases
    group: Unit tests
    text: Edge cases
  - id: reviewed
    group: Validation
    text: Reviewed by hand
    manual: {by: reviewer, reason: read the diff}
"""

BODY = f"""
# {BUG}

## Root Cause
exp overflows.

## Solution
A stable sigmoid.

## Next Steps
1. Ship it.

## Notes
None.
"""


def report(revision: str, status: str = "fixed") -> str:
    return report_text(BUG, status=status, revision=revision, items=ITEMS, body=BODY)


def build(root: Path) -> str:
    """Commit the pre-fix code, then the fix and its report; return the pre-fix commit."""
    make_files(root, PRE_FIX)
    revision = commit_all(root, "pre-fix")
    make_files(root, FIXED)
    make_files(root, {f"docs/bug_reports/{BUG.lower()}-overflow.md": report(revision)})
    commit_all(root, "fix")
    return revision
