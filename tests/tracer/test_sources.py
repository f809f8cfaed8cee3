"""Which files tracer scans: the source roots, minus what git ignores, virtual environments and
build output; only regular files inside the project; and the caches that keep an unchanged file
from being read or parsed twice."""

from __future__ import annotations

import os
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import commit_all, git, make_files
from tracer.config import Config
from tracer.problems import TracerError
from tracer.sources import scan_project, select_files

TAG = "# BUG-20250101-001: fix\n"
TAGGED = "def f():\n    " + TAG + "    return 1\n"
TREE = {
    "pkg/a.py": "x = 1\n",
    "pkg/sub/b.py": "y = 2\n",
    "pkg/notes.txt": "not python\n",
    "build/lib/pkg/a.py": "x = 1\n",
    ".venv/pyvenv.cfg": "home = /usr\n",
    ".venv/lib/site.py": "z = 3\n",
    "env2/pyvenv.cfg": "home = /usr\n",
    "env2/lib/site.py": "z = 3\n",
    "generated/out.py": "w = 4\n",
    ".gitignore": "generated/\nenv2/\n",
}


@pytest.fixture
def parsed(monkeypatch):
    """The paths the scanner parses, in order (parsing in this process: fewer than PARALLEL_FROM files)."""
    import tracer.sources

    seen: list[str] = []
    real = tracer.sources._scan_bytes
    monkeypatch.setattr(tracer.sources, "_scan_bytes", lambda path, *rest: seen.append(path) or real(path, *rest))
    return seen


def python_files(config: Config) -> list[str]:
    """The files a scan reads, without their stamps."""
    return [path for path, _, _ in select_files(config).files]


@pytest.mark.parametrize("with_git", [True, False], ids=["git", "no-git"])
def test_python_files_skip_ignored_venv_and_build_output(tmp_path, monkeypatch, with_git):
    make_files(tmp_path, TREE)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    if with_git:
        git(tmp_path, "init", "-q")
    found = python_files(Config(root=tmp_path))
    expected = ["pkg/a.py", "pkg/sub/b.py"] + ([] if with_git else ["generated/out.py"])
    assert found == sorted(expected)


def test_a_repository_whose_git_listing_fails_is_walked_and_said_so(tmp_path, monkeypatch):
    make_files(tmp_path, {"pkg/a.py": ""})
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    git(tmp_path, "init", "-q")
    (tmp_path / ".git" / "index").write_bytes(b"not an index")
    selection = select_files(Config(root=tmp_path))
    assert [path for path, _, _ in selection.files] == ["pkg/a.py"]
    (note,) = selection.notes
    assert "git ls-files failed" in note.problems[0].message


def test_source_roots_and_exclude(tmp_path):
    make_files(tmp_path, {"src/a.py": "", "src/skip/b.py": "", "tests/c.py": ""})
    assert python_files(Config(root=tmp_path, source_roots=("src",), exclude=("src/skip/",))) == ["src/a.py"]


def test_test_folders_are_evidence_not_source_unless_a_source_root_names_them(tmp_path):
    make_files(tmp_path, {"src/a.py": "", "tests/test_a.py": "", "tests/helpers/h.py": "", "testsuite.py": ""})
    assert python_files(Config(root=tmp_path)) == ["src/a.py", "testsuite.py"]
    assert python_files(Config(root=tmp_path, source_roots=("tests/helpers",))) == ["tests/helpers/h.py"]


def test_a_missing_source_root_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(TracerError, match="source_roots: 'src' does not exist"):
        python_files(Config(root=tmp_path, source_roots=("src",)))


def test_a_source_root_that_leads_out_of_the_project_is_an_error_naming_the_key(tmp_path):
    outside = make_files(tmp_path / "outside", {"a.py": TAGGED})
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "src").symlink_to(outside)
    with pytest.raises(TracerError, match="source_roots: 'src' leads outside the project"):
        scan_project(Config(root=tmp_path / "project", source_roots=("src",)))


def test_symlinked_files_are_not_followed_out_of_the_project(tmp_path):
    make_files(tmp_path, {"outside.py": TAGGED, "project/real.py": TAGGED})
    project = tmp_path / "project"
    (project / "leak.py").symlink_to(tmp_path / "outside.py")
    (project / "alias.py").symlink_to(project / "real.py")
    scans = scan_project(Config(root=project))
    assert [(s.path, bool(s.scopes)) for s in scans] == [("leak.py", False), ("real.py", True)]
    (problem,) = scans[0].problems
    assert (problem.code, problem.severity) == ("T002", "warning") and "outside the project" in problem.message


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_files_named_py_are_skipped_with_a_note_never_read(tmp_path, kind):
    make_files(tmp_path, {"a.py": TAGGED})
    special = tmp_path / "pipe.py"
    if kind == "fifo":
        os.mkfifo(special)
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(special))
    scans = scan_project(Config(root=tmp_path))  # a FIFO that were opened would block here
    assert [s.path for s in scans] == ["a.py", "pipe.py"]
    (problem,) = scans[1].problems
    assert problem.code == "T002" and "not a regular file" in problem.message


def test_file_names_that_are_not_utf8_are_scanned_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    git(tmp_path, "init", "-q")
    name = os.fsencode(tmp_path) + b"/caf\xe9.py"
    with open(name, "w") as handle:
        handle.write(TAGGED)
    config = Config(root=tmp_path)
    first = scan_project(config)
    assert [s.path for s in first] == [os.fsdecode(b"caf\xe9.py")] and first[0].scopes
    assert scan_project(config) == first


def test_only_files_holding_the_prefix_are_parsed_and_results_are_cached(tmp_path, parsed):
    make_files(tmp_path, {"a.py": TAGGED, "b.py": "x = 1\n"})
    config = Config(root=tmp_path)
    first = scan_project(config)
    assert parsed == ["a.py"]
    assert scan_project(config) == first and parsed == ["a.py"]  # the second scan reads the cache
    assert (tmp_path / ".tracer-cache" / ".gitignore").read_text().endswith("*\n")
    (tmp_path / "a.py").write_text("\n" + (tmp_path / "a.py").read_text())
    assert scan_project(config)[0].scopes[0].scope.start_line == 2 and parsed == ["a.py", "a.py"]


def _age(path, seconds=60):
    """Make a file look written a while ago: the index does not trust a file changed just now."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - seconds * 10**9))


def test_a_warm_scan_reads_no_file_whose_stat_is_unchanged(tmp_path, monkeypatch):
    make_files(tmp_path, {"a.py": TAGGED, "b.py": "x = 1\n"})
    # ctime cannot be set back: compare against a clock that runs a minute ahead instead.
    import tracer.sources

    real_time_ns = tracer.sources.time.time_ns
    monkeypatch.setattr(tracer.sources.time, "time_ns", lambda: real_time_ns() + 60 * 10**9)
    config = Config(root=tmp_path)
    first = scan_project(config)
    read: list[str] = []
    real_read = tracer.sources._read_regular
    monkeypatch.setattr(tracer.sources, "_read_regular", lambda path: read.append(path.name) or real_read(path))
    assert scan_project(config) == first and read == []
    (tmp_path / "b.py").write_text("y = 2\n")  # same size, new mtime and ctime
    assert scan_project(config) == first and read == ["b.py"]


def test_a_file_changed_just_now_is_read_again(tmp_path, monkeypatch):
    make_files(tmp_path, {"a.py": TAGGED})
    config = Config(root=tmp_path)
    scan_project(config)
    import tracer.sources

    read: list[str] = []
    real_read = tracer.sources._read_regular
    monkeypatch.setattr(tracer.sources, "_read_regular", lambda path: read.append(path.name) or real_read(path))
    scan_project(config)
    assert read == ["a.py"]  # written within the racy window: its stat is not trusted yet


def test_a_file_that_breaks_the_scanner_is_that_files_finding_in_worker_processes_too(tmp_path, monkeypatch):
    import tracer.sources

    monkeypatch.setattr(tracer.sources, "PARALLEL_FROM", 2)
    deep = "x = (\n" + "\n".join(f'    "s{i}"  # BUG-20250101-001: s' for i in range(3000)) + "\n)\n"
    make_files(tmp_path, {"a.py": TAGGED, "b.py": TAGGED, "deep.py": deep, "nul.py": "# BUG-20250101-001: x\n\0\n"})
    scans = {s.path: s for s in scan_project(Config(root=tmp_path), use_cache=False)}
    assert scans["a.py"].scopes and scans["b.py"].scopes
    assert scans["deep.py"].scopes and not scans["deep.py"].problems  # 3000 levels of libcst nesting
    (problem,) = scans["nul.py"].problems
    assert (problem.code, problem.line) == ("T001", 2)


def test_the_id_pattern_is_compiled_once_per_run_not_per_file(tmp_path, monkeypatch):
    import tracer.sources

    make_files(tmp_path, {"a.py": TAGGED, "b.py": TAGGED, "c.py": TAGGED})
    config = Config(root=tmp_path)
    patterns: list[object] = []
    real = tracer.sources._scan_bytes
    monkeypatch.setattr(
        tracer.sources, "_scan_bytes", lambda path, data, regex: patterns.append(regex) or real(path, data, regex)
    )
    scan_project(config, use_cache=False)
    assert len(patterns) == 3 and all(regex is config.id_regex for regex in patterns)


def test_the_worker_pool_is_sized_by_memory_as_well_as_cores(monkeypatch):
    import tracer.sources

    monkeypatch.setattr(tracer.sources.os, "cpu_count", lambda: 16)
    monkeypatch.delattr(tracer.sources.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(tracer.sources, "_available_memory", lambda: 64 << 30)
    assert tracer.sources._worker_count([1000] * 100) == 16
    assert tracer.sources._worker_count([1000] * 3) == 3  # no more workers than files
    monkeypatch.setattr(tracer.sources, "_available_memory", lambda: 1 << 30)
    assert tracer.sources._worker_count([1000, 2 << 20]) == 1  # a 2 MB file's tree is a few hundred MB
    monkeypatch.setattr(tracer.sources, "_available_memory", lambda: None)
    assert tracer.sources._worker_count([2 << 20] * 100) == 16  # unknown: the cores decide


def test_a_warm_scan_of_a_committed_tree_takes_git_at_its_word_and_stats_nothing_itself(tmp_path, monkeypatch):
    """Git compares every tracked file with its index anyway (to list the untracked ones and the
    changed): where it finds a file unchanged, its blob is the file's stamp, and tracer stats no
    such file (in a tree of 100,000 files, the stat calls were a third of a warm check). A file
    git cannot vouch for (changed, untracked, marked assume-unchanged) is looked at as before."""
    import tracer.sources

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setattr(tracer.sources.time, "time_ns", lambda real=time.time_ns: real() + 60 * 10**9)
    make_files(tmp_path, {"a.py": TAGGED, "b.py": "x = 1\n", "c.py": "y = 1\n"})
    commit_all(tmp_path, "tree")
    git(tmp_path, "update-index", "--assume-unchanged", "c.py")  # says nothing of the file: not trusted
    make_files(tmp_path, {"new.py": "z = 1\n"})
    config = Config(root=tmp_path)
    first = scan_project(config)
    stamps = {path: stamp.split()[0] for path, stamp, _ in select_files(config).files}
    assert stamps == {"a.py": "git", "b.py": "git", "c.py": stamps["c.py"], "new.py": stamps["new.py"]}
    assert stamps["c.py"] != "git" and stamps["new.py"] != "git"
    stated: list[str] = []
    real_lstat = os.lstat
    monkeypatch.setattr(
        os, "lstat", lambda path, *rest: stated.append(os.path.basename(path)) or real_lstat(path, *rest)
    )
    read: list[str] = []
    real_read = tracer.sources._read_regular
    monkeypatch.setattr(tracer.sources, "_read_regular", lambda path: read.append(path.name) or real_read(path))
    assert scan_project(config) == first
    assert sorted(p for p in stated if p.endswith(".py")) == ["c.py", "new.py"] and read == []
    (tmp_path / "a.py").write_text(TAGGED.replace("BUG-20250101-001", "BUG-20250101-777"))  # git now says "changed"
    (tmp_path / "c.py").write_text(f"# {'BUG-20250101-001'}: an edit git was told not to look for\nw = 1\n")
    rescanned = {
        scan.path: {tag for s in scan.scopes for c in s.changes for tag in c.bug_ids} for scan in scan_project(config)
    }
    assert rescanned["a.py"] == {"BUG-20250101-777"} and rescanned["c.py"] == {"BUG-20250101-001"}


RECORDS = st.tuples(
    st.sampled_from(["H", "h", "C", "R", "S", "?"]),
    st.sampled_from(["100644", "100755", "120000", "160000"]),
    st.sampled_from(["0", "1"]),
    st.sampled_from(["a.py", "b.txt", "dir/c.py", "d.pyc", "e.py.txt", "f py", ".py", "g\t.py"]),
)


@settings(max_examples=300, deadline=2000)
@given(st.lists(RECORDS, max_size=60))
def test_git_vouches_for_a_listing_where_every_python_file_is_tracked_unchanged_and_regular(records):
    """The whole-tree key (`vouched_for`) holds exactly where each Python file's record is H, a
    regular file's mode and stage 0: any other record of a Python file (changed, deleted,
    untracked, assume-unchanged, a link) means a scan must look at the files. Also: a listing of
    many records that both forms match fails at once (no exponential backtracking)."""
    from tracer.sources import vouched_for

    raw = b"".join(
        (f"? {path}" if tag == "?" else f"{tag} {mode} {'ab' * 20} {stage}\t{path}").encode() + b"\0"
        for tag, mode, stage, path in records
    )
    expected = all(
        tag == "H" and mode in ("100644", "100755") and stage == "0"
        for tag, mode, stage, path in records
        if path.endswith(".py")
    )
    assert vouched_for(raw) == expected
    clean_documents = b"".join(b"H 100644 %s 0\tdoc%d.txt\0" % (b"ab" * 20, n) for n in range(200))
    assert not vouched_for(clean_documents + b"C 100644 " + b"ab" * 20 + b" 0\tlast.py\0")


def test_a_warm_scan_of_a_tree_git_vouches_for_reads_one_file(tmp_path, monkeypatch):
    """Every source tracked and unchanged: the scans are those of git's very listing, read from
    one cache file; any change git sees (an edit, a new file) and the files are looked at again."""
    import tracer.sources

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    make_files(tmp_path, {"a.py": TAGGED, "b.py": "x = 1\n", "README.md": "# demo\n"})
    commit_all(tmp_path, "tree")
    config = Config(root=tmp_path)
    first = scan_project(config)
    selected: list[bool] = []
    real_select = tracer.sources.select_files
    monkeypatch.setattr(tracer.sources, "select_files", lambda *args: selected.append(True) or real_select(*args))
    assert scan_project(config) == first and selected == []
    (tmp_path / "README.md").write_text("# changed, and no source\n")
    assert scan_project(config) == first and selected == []
    (tmp_path / "b.py").write_text(f"# {'BUG-20250101-002'}: new\nx = 2\n")
    second = scan_project(config)
    assert selected == [True] and {s.path for s in second} == {"a.py", "b.py"}
    commit_all(tmp_path, "b")
    assert scan_project(config) == second and selected == [True, True]  # a new listing: scanned, then kept
    assert scan_project(config) == second and selected == [True, True]
    with pytest.raises(TracerError, match="source_roots"):
        scan_project(Config(root=tmp_path, source_roots=("missing",)))
