"""Whatever a pull request holds, `tracer.cli.main()` answers with an exit code (0, 1 or 2), never
an exception, and prints nothing a terminal or a CI runner would take for a command: a property
over projects built from hostile reports, evidence, templates, configuration, file names and
symlinks."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tracer.conftest import BUG, report_text
from tests.tracer.test_untrusted import HOSTILE, RAISING
from tracer.cli import main

TEXTS = [
    HOSTILE,
    "::stop-commands::tok",
    "\x1b]52;c;SGk=\x07",
    "\ud800",
    "caf\udce9",
    "%0A::error::x",
    "##[set-output name=x]y",
    "\r::warning::x",
    "",
    " ",
    "../../etc/passwd",
    "\u202e",
    "`",
    "](javascript:x)",
    "<img src=x>",
    "x" * 5000,
    "yes",
    "null",
]
TEST_IDS = [
    "tests/test_step.py::test_edges",
    "tests/test_step.py::test_edges[\n\n## Sign-off\n- [x] ok]",
    "../../etc/passwd::x",
    "/etc/passwd::x",
    "tests/test_step.py::test_ghost",
    "tests/test_step.py",
    "tests/x.py::test_\ud800",
    "::",
    "",
]
TEMPLATES = [
    None,
    "{{ report.title }}\n{{ items }}\n",
    '{% include "leak.txt" %}',
    "{% extends 'tracer/code_changes.md.j2' %}",
    "{{ report.title | safe }}",
    "{% for i in items %}{{ i.detail }}{{ i.text | code }}{% endfor %}",
    *RAISING,
]
CONFIGS = [
    "",
    'output_suffix = ".md"',
    'output_suffix = "/x.md"',
    'issue_url = "javascript:x/{id}"',
    "max_report_bytes = 10",
    'cache_dir = "../elsewhere"',
    'test_roots = ["/"]',
    'evidence_dir = "docs"',
    'source_url = "https://x.invalid/{path}#L{start}"',
    'id_pattern = "(a|"',
    "max_template_steps = 50",
    'templates_dir = "nowhere"',
    "max_evidence_bytes = 1",
    'exclude = [""]',
]
FILE_NAMES = [b"plain.py", b"caf\xe9.py", b"::warning::x.py", b"\x1b[31m.py", b"a b%#?.py", "ünï.py".encode(), b"-x.py"]
EVIDENCE_VARIANTS = ["valid", "surrogate", "not json", "schema", "array", "huge key", "ghost only"]
LINKS = [None, "evidence", "cache", "report", "template", "document"]
COMMANDS = [
    ["check", "--diff"],
    ["check", "--format", "json", "--diff"],
    ["check", "--format", "github"],
    ["check", "--format", "sarif"],
    ["list"],
    ["list", "--format", "json"],
    ["trace", "--all"],
    ["render", "--all"],
    ["render", BUG, "-o", "-"],
    ["site", "-o", "site-out"],
    ["evidence", "merge", "MERGE"],
    ["signoff", BUG, "edge-cases", "--by", HOSTILE, "--reason", "\x1b[2J"],
]

text = st.one_of(st.sampled_from(TEXTS), st.text(max_size=12))


@st.composite
def hostile_projects(draw: st.DrawFn) -> dict[str, object]:
    return {
        "title": draw(text),
        "author": draw(text),
        "item": draw(text),
        "facts": draw(st.dictionaries(text, text, max_size=3)),
        "tests": draw(st.lists(st.one_of(st.sampled_from(TEST_IDS), text), min_size=1, max_size=3)),
        "outcome": draw(st.sampled_from(["passed", "failed", "skipped"])),
        "template": draw(st.sampled_from(TEMPLATES)),
        "config": draw(
            st.one_of(st.just(""), st.just('test_roots = ["tests"]'), st.sampled_from(CONFIGS))
        ),  # most projects configure well
        "file": draw(st.sampled_from(FILE_NAMES)),
        "tag": draw(text),
        "evidence": draw(st.sampled_from(EVIDENCE_VARIANTS)),
        "link": draw(st.sampled_from(LINKS)),
        "command": draw(st.sampled_from(COMMANDS)),
    }


def evidence_json(facts: dict[str, str], tests: list[str], outcome: str, variant: str) -> str:
    data = {
        "schema_version": 1,
        "fingerprint_scheme": 2,
        "bug_id": BUG,
        "environment": facts or {"device": "cpu"},
        "fingerprints": {},
        "items": {"edge-cases": {test: {"outcome": outcome, "code": "x"} for test in tests}},
    }
    if variant == "surrogate":
        data["environment"] = {"device": "gpu\ud800"}
    elif variant == "schema":
        data["items"] = ["not", "a", "mapping"]
    elif variant == "array":
        return "[" * 5000 + "]" * 5000
    elif variant == "huge key":
        data["items"]["x" * 100_000] = {}
    elif variant == "ghost only":
        data["items"]["edge-cases"] = {"tests/test_step.py::test_forged": {"outcome": "passed", "code": "x"}}
    text = json.dumps(data)
    return "{not json" + text if variant == "not json" else text


def build(root: Path, outside: Path, case: dict[str, object]) -> None:
    def write(relative: str | bytes, content: str) -> None:
        path = root / os.fsdecode(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", errors="surrogatepass")

    items = f"  - id: edge-cases\n    group: Tests\n    text: {json.dumps(case['item'])}\n"
    report = report_text(BUG, title=json.dumps(case["title"]), items=items).replace(
        "author: someone", f"author: {json.dumps(case['author'])}"
    )
    write("pyproject.toml", f'[project]\nname = "x"\n\n[tool.tracer]\nsource_roots = ["src"]\n{case["config"]}\n')
    write(f"docs/bug_reports/{BUG.lower()}-x.md", report + "\n## Root Cause\n" + str(case["title"]) + "\n")
    write(
        b"src/" + case["file"],
        f"def f():\n    # {BUG}: {str(case['tag']).splitlines()[0] if case['tag'] else 'x'}\n    return 1\n",
    )  # type: ignore[operator]
    write("tests/test_step.py", "def test_edges():\n    pass\n")
    facts = {str(k): str(v) for k, v in case["facts"].items()}  # type: ignore[attr-defined]
    evidence = evidence_json(facts, list(case["tests"]), str(case["outcome"]), str(case["evidence"]))  # type: ignore[call-overload]
    write(f"docs/bug_reports/evidence/{BUG.lower()}/cpython3.11-linux.json", evidence)
    (outside / "merge.json").write_text(evidence, encoding="utf-8", errors="surrogatepass")
    (outside / "secret.txt").write_text("SECRET")
    if case["template"] is not None:
        write("templates/code_changes.md.j2", str(case["template"]))
    link = case["link"]
    if link == "evidence":
        os.symlink(outside, root / "docs/bug_reports/evidence" / "bug-20250101-002")
    elif link == "cache":
        os.symlink(outside, root / ".tracer-cache")
    elif link == "report":
        os.symlink(outside / "secret.txt", root / "docs/bug_reports/bug-20250101-003-x.md")
    elif link in ("template", "document"):
        name = "templates/leak.txt" if link == "template" else f"docs/bug_reports/{BUG.lower()}-x-code-changes.md"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(outside / "secret.txt", root / name)


@settings(
    max_examples=int(os.environ.get("TRACER_UNTRUSTED_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_projects())
def test_no_input_ends_a_run_with_an_exception(case):
    with tempfile.TemporaryDirectory() as project, tempfile.TemporaryDirectory() as elsewhere:
        root, outside = Path(project), Path(elsewhere)
        build(root, outside, case)
        before = sorted(p.name for p in outside.iterdir())
        for args in (["check"], [str(outside / "merge.json") if a == "MERGE" else a for a in case["command"]]):  # type: ignore[attr-defined]
            out, err = io.StringIO(), io.StringIO()
            with contextlib.chdir(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(args)
            shown = out.getvalue() + err.getvalue()
            assert code in (0, 1, 2), (args, shown)
            assert "\x1b" not in shown and "\u202e" not in shown and "SECRET" not in shown, args
            lines = shown.splitlines()
            commands = [line for line in lines if line.lstrip().startswith("::") or "##[" in line]
            if "github" in args:
                assert all(line.startswith(("::error file=", "::warning file=")) for line in commands), args
            else:
                assert commands == [], args
            if code != 2 and ("json" in args or "sarif" in args):
                json.loads(out.getvalue())
        assert sorted(p.name for p in outside.iterdir()) == before  # nothing written outside the project


PATH_PARTS = ["docs", "link-in", "link-out", "report.md", "file-link-out", "..", ".", "missing", ""]


@settings(max_examples=int(os.environ.get("TRACER_UNTRUSTED_EXAMPLES", "40")) * 5, deadline=None)
@given(st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=5), st.booleans())
def test_a_command_resolves_each_folder_once_and_sees_every_link_as_realpath_does(
    parts: list[str], relative: bool
) -> None:
    """Within one command folders are resolved once (`guard.resolving_once`): every path still
    resolves as `os.path.realpath` says, so a link planted as a file or a folder, leading in or
    out, is seen as it is."""
    from tracer import guard

    with tempfile.TemporaryDirectory() as folder:
        top = Path(os.path.realpath(folder))
        outside, root = top / "outside", top / "project"
        (outside / "secrets").mkdir(parents=True)
        (outside / "secrets" / "token").write_text("secret")
        (root / "docs").mkdir(parents=True)
        (root / "docs" / "report.md").write_text("# report")
        (root / "docs" / "link-in").symlink_to(root / "docs")
        (root / "docs" / "link-out").symlink_to(outside / "secrets")
        (root / "docs" / "file-link-out").symlink_to(outside / "secrets" / "token")
        (root / "link-in").symlink_to("docs")
        (root / "link-out").symlink_to(outside)
        path = Path(*parts) if relative else root.joinpath(*parts)
        with contextlib.chdir(root):
            expected = os.path.realpath(path)
            with guard.resolving_once():
                for _ in range(2):  # the second time from what the first one kept
                    assert guard._real(path) == expected
                    assert guard.is_inside(root, path) == guard._within(expected, str(root))
