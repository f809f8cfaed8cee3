"""Recording which tagged lines run, and for which test: only the tagged code is traced.

On Python 3.12+ through `sys.monitoring`, with LINE events set locally on the code objects of
tagged functions and nothing else: untagged code runs untouched, and each line reports once per
test (the callback returns DISABLE; the code objects that reported are armed again, each alone,
when the next test or fixture starts: no `restart_events`, which would make every code object of
the interpreter check its instrumentation again, and undo other tools' DISABLEs). The
code objects are found as a tagged module is executed (imported or reloaded after recording
starts: every code object in it), and, for a module imported before, in its functions, classes
and the code nested in them, when a test starts after it appeared in `sys.modules`.

On 3.11, which has no `sys.monitoring`, through line probes: the tagged functions are compiled
again from their source with one `__tracer_lines__.add((path, line))` before each statement of
the tagged scopes (same line numbers, nothing else changed), and the live functions take the new
code (`__code__`, checked to be compiled from the same source); modules imported from now on are
compiled so. Untagged code runs untouched, as under sys.monitoring. A `sys.settrace` function
(`TRACER_RECORDING=settrace`) is kept for comparison: CPython 3.11 runs every frame in its slow
tracing mode while any trace function is set, which cost 2.5 times the time of a call-heavy suite
(benchmarks/plugin_overhead.py). Where every sys.monitoring tool id is taken, the probes are used
on 3.12+ too. `TRACER_RECORDING=off` records nothing (the benchmark measures recording's cost so).

Lines run while a fixture wider than a function is set up are the fixture's (by fixture, scope
node and parameter), and count for every test that uses it: the test that set it up and those
that found it set up. Module-level blocks run at import, once, before any test: they are
recorded apart when this recorder saw the import happen. Threads a test starts are seen;
subprocesses are not. Where tracing cannot start (no free monitoring tool id, another tracer
already installed on 3.11) nothing is recorded and `notes` says why: never a silent zero."""

from __future__ import annotations

import ast
import importlib.machinery
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Ranges = Mapping[str, Sequence[tuple[int, int]]]  # file (project-relative) -> line ranges
LineSet = set[tuple[object, int]]  # (id of a code object, or a project path for probes; physical line)
PROBE = "__tracer_lines__"  # the name line probes add to, in each instrumented module's namespace
TOOL_IDS = (4, 3, 5, 2)  # sys.monitoring ids without an owner by convention first; never the debugger's or coverage's


@dataclass
class ProcessRecording:
    """What one pytest process recorded, as plain data (xdist sends it from workers)."""

    mechanism: str = ""  # "sys.monitoring", "sys.settrace", or "" where nothing could be recorded
    tests: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # test id -> file -> lines it ran itself
    test_fixtures: dict[str, list[str]] = field(default_factory=dict)  # test id -> wider fixtures it used
    fixtures: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # fixture key -> file -> lines
    imported: dict[str, list[int]] = field(default_factory=dict)  # file -> lines run at import
    unrecorded: list[str] = field(default_factory=list)  # linked tests that ran while nothing could be recorded
    notes: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # file -> digest of the text whose lines were traced

    def as_data(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "tests": self.tests,
            "test_fixtures": self.test_fixtures,
            "fixtures": self.fixtures,
            "imported": self.imported,
            "unrecorded": self.unrecorded,
            "notes": self.notes,
            "digests": self.digests,
        }

    @classmethod
    def from_data(cls, data: Any) -> ProcessRecording:
        """From what a worker sent; anything malformed reads as nothing recorded."""
        try:
            return cls(
                str(data["mechanism"]),
                {str(t): _lines_by_file(f) for t, f in data["tests"].items()},
                {str(t): [str(k) for k in keys] for t, keys in data["test_fixtures"].items()},
                {str(k): _lines_by_file(f) for k, f in data["fixtures"].items()},
                _lines_by_file(data["imported"]),
                [str(t) for t in data["unrecorded"]],
                [str(n) for n in data["notes"]],
                {str(p): str(d) for p, d in data["digests"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls(notes=["a worker sent executions tracer cannot read; they are not recorded"])


def _lines_by_file(data: Any) -> dict[str, list[int]]:
    return {str(path): [int(line) for line in lines] for path, lines in data.items()}


@dataclass(frozen=True)
class Executions:
    """Every process's recording of one run, merged: what each test ran, its wider fixtures'
    lines included (a fixture's lines are the union of its set-ups in every process, so a run
    under xdist records what a serial run records)."""

    tests: Mapping[str, Mapping[str, frozenset[int]]]  # test id -> file -> physical lines
    imported: Mapping[str, frozenset[int]]
    unrecorded: frozenset[str]
    notes: tuple[str, ...]
    digests: Mapping[str, str]

    @classmethod
    def merge(cls, recordings: Iterable[ProcessRecording]) -> Executions:
        recordings = list(recordings)
        fixtures: dict[str, dict[str, set[int]]] = {}
        imported: dict[str, set[int]] = {}
        digests: dict[str, str] = {}
        notes: list[str] = []
        for recording in recordings:
            for key, files in recording.fixtures.items():
                for path, lines in files.items():
                    fixtures.setdefault(key, {}).setdefault(path, set()).update(lines)
            for path, lines in recording.imported.items():
                imported.setdefault(path, set()).update(lines)
            for path, digest in recording.digests.items():
                if digests.setdefault(path, digest) != digest:
                    digests[path] = ""  # the processes saw different texts: trust neither
            notes += [note for note in recording.notes if note not in notes]
        tests: dict[str, dict[str, frozenset[int]]] = {}
        unrecorded: set[str] = set()
        for recording in recordings:
            unrecorded.update(recording.unrecorded)
            for test_id, files in recording.tests.items():
                merged = {path: set(lines) for path, lines in files.items()}
                for key in recording.test_fixtures.get(test_id, []):
                    for path, found in fixtures.get(key, {}).items():
                        merged.setdefault(path, set()).update(found)
                tests[test_id] = {path: frozenset(found) for path, found in sorted(merged.items()) if found}
        return cls(
            tests,
            {p: frozenset(v) for p, v in imported.items()},
            frozenset(unrecorded - set(tests)),
            tuple(notes),
            digests,
        )


class Unavailable(Exception):
    """Tracing cannot start here; the message says why, for the run's summary."""


class LineRecorder:
    """Records the tagged lines each test runs, in one process. `begin_test`, `begin_fixture`,
    `end_fixture` and `end_test` follow pytest's phases; `recording()` hands over the data."""

    def __init__(
        self,
        root: str,
        traced: Ranges,
        import_classes: Mapping[str, Iterable[int]],
        module_blocks: Ranges,
        digests: Mapping[str, str],
    ):
        """`traced`: the line ranges of the tagged defs and classes, by file; `import_classes`: the
        first lines of tagged classes whose bodies run at import; `module_blocks`: the line ranges
        of tagged module-level blocks, by file; `digests`: each file's digest as it was read."""
        self.root = os.path.realpath(root)
        self.traced = {path: tuple(ranges) for path, ranges in traced.items() if ranges}
        self.import_classes = {path: frozenset(lines) for path, lines in import_classes.items()}
        self.module_blocks = frozenset(path for path, ranges in module_blocks.items() if ranges)
        self.module_spans = {path: tuple(ranges) for path, ranges in module_blocks.items()}
        self.result = ProcessRecording(digests=dict(digests))
        self.files = {
            os.path.join(self.root, path): path for path in {*self.traced, *self.import_classes, *self.module_blocks}
        }
        self._adopted: dict[int, types.ModuleType] = {}  # modules whose code was looked for, by id
        self.lost: dict[str, int] = {}  # what took tracing away -> how many tests it cost
        self.lost_fixtures: set[str] = set()
        self._paths: dict[str, str | None] = {}  # co_filename -> project path, or None where not tagged
        self.codes: dict[int, tuple[types.CodeType, str]] = {}  # id -> (code, path): the traced code, kept alive
        self.import_codes: dict[int, tuple[types.CodeType, str]] = {}
        self._stack: list[tuple[str, LineSet | None]] = []  # ("test" or a fixture key, its lines)
        self._imported: LineSet = set()
        self._test: str | None = None
        self._backend: _Backend | None = None
        self._finder: _ImportObserver | None = None
        self._unresolved_modules = -1

    # lifecycle

    def start(self) -> None:
        """Choose the tracing mechanism and watch imports of tagged modules."""
        if not self.files:
            return
        chosen = os.environ.get("TRACER_RECORDING", "")
        if chosen == "off":  # to measure what recording costs (benchmarks/plugin_overhead.py)
            self.result.notes.append(
                "TRACER_RECORDING=off: the executions of this run's linked tests were not recorded"
            )
            return
        try:
            if chosen == "settrace":
                self._backend = _SetTrace(self)
            elif chosen == "probes" or sys.version_info < (3, 12):
                self._backend = _Probes(self)
            else:
                try:
                    self._backend = _Monitoring(self)
                except Unavailable as why:
                    self.result.notes.append(f"{why}: the tagged code was recorded with line probes instead")
                    self._backend = _Probes(self)
            self.result.mechanism = self._backend.name
        except Unavailable as why:
            self.result.notes.append(f"{why}: the executions of this run's linked tests were not recorded")
            return
        self._finder = _ImportObserver(self)
        sys.meta_path.insert(0, self._finder)

    def stop(self) -> None:
        if self._finder is not None and self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        self._finder = None
        if self._backend is not None:
            self._backend.close()
        self._backend = None

    def recording(self) -> ProcessRecording:
        """What this process recorded so far, as plain data."""
        lost = [
            f"{why}: the executions of {count} linked test{'s' if count > 1 else ''} were not recorded"
            for why, count in sorted(self.lost.items())
        ]
        return ProcessRecording(
            self.result.mechanism,
            dict(self.result.tests),
            dict(self.result.test_fixtures),
            dict(self.result.fixtures),
            self._by_file(self._imported, self.import_codes),
            list(self.result.unrecorded),
            [*self.result.notes, *lost],
            dict(self.result.digests),
        )

    # pytest's phases

    def begin_test(self, test_id: str, linked: bool) -> None:
        self._stack = [("test", set() if linked and self._backend is not None else None)]
        self._test = test_id
        if linked and self._backend is None:
            self.result.unrecorded.append(test_id)
        self._switch()

    def end_test(self, test_id: str, fixtures: Iterable[str]) -> None:
        if self._test != test_id or not self._stack:
            return
        lines = self._stack[0][1]
        self._stack = []
        self._test = None
        self._switch()
        if lines is not None and self._backend is not None:
            lost = self._backend.lost()
            used = sorted(set(fixtures))
            if lost or self.lost_fixtures.intersection(used):
                why = lost or "a fixture it used was set up while tracing was taken away"
                self.lost[why] = self.lost.get(why, 0) + 1
                self.result.unrecorded.append(test_id)
                return
            self.result.tests[test_id] = self._by_file(lines, self.codes)
            self.result.test_fixtures[test_id] = used

    def begin_fixture(self, key: str) -> None:
        self._stack.append((key, set() if self._backend is not None else None))
        self._switch()

    def end_fixture(self) -> None:
        if len(self._stack) < 2:
            return
        key, lines = self._stack.pop()
        if self._backend is not None and self._backend.lost():
            self.lost_fixtures.add(key)
        self._switch()
        if lines:
            files = self.result.fixtures.setdefault(key, {})
            for path, found in self._by_file(lines, self.codes).items():
                files[path] = sorted(set(files.get(path, [])) | set(found))

    @property
    def current(self) -> LineSet | None:
        return self._stack[-1][1] if self._stack else None

    def _switch(self) -> None:
        if self._backend is None:
            return
        if self.current is not None:
            self.resolve()
        self._backend.switch(self.current)

    # which code is traced

    def path_of(self, filename: str) -> str | None:
        """The project path of a tagged file, from a code object's file name (cached: this runs
        for every frame on 3.11)."""
        try:
            return self._paths[filename]
        except KeyError:
            path = self.files.get(os.path.realpath(filename)) if filename and not filename.startswith("<") else None
            self._paths[filename] = path
            return path

    def is_traced(self, code: types.CodeType) -> str | None:
        """The project path of a code object that starts inside a tagged scope, unless it runs at
        import: a module's own code, or the body of a class outside any function."""
        path = self.path_of(code.co_filename)
        if path is None or self.runs_at_import(code, path):
            return None
        first = code.co_firstlineno
        if any(start <= first <= end for start, end in self.traced.get(path, ())):
            return path
        return None

    def runs_at_import(self, code: types.CodeType, path: str) -> bool:
        if code.co_name == "<module>":
            return True
        return not code.co_flags & inspect.CO_OPTIMIZED and code.co_firstlineno in self.import_classes.get(path, ())

    def register(self, code: types.CodeType) -> None:
        """Trace `code` and the code nested in it, where they are tagged."""
        for nested in _nested_codes(code):
            path = self.is_traced(nested)
            if path is not None and id(nested) not in self.codes:
                self.codes[id(nested)] = (nested, path)
                if self._backend is not None:
                    self._backend.trace(nested)

    def register_import(self, code: types.CodeType, path: str) -> list[types.CodeType]:
        """The code of a tagged module that runs at import and holds tagged lines (its own code
        where it has tagged blocks, the bodies of its tagged classes), to trace as it is imported."""
        found = []
        for nested in _nested_codes(code):
            if self.path_of(nested.co_filename) != path or not self.runs_at_import(nested, path):
                continue
            if nested.co_name == "<module>" and path not in self.module_blocks:
                continue
            self.import_codes[id(nested)] = (nested, path)
            found.append(nested)
        return found

    def resolve(self) -> None:
        """Find the tagged code of modules that appeared in `sys.modules` since the last look
        without being executed by the import observer (imported before recording started, or by
        another loader). A module reloaded is executed by the observer again (`importlib.reload`
        finds its spec anew): its new code is seen then."""
        if self._unresolved_modules == len(sys.modules) or self._backend is None:
            return
        self._unresolved_modules = len(sys.modules)
        for module in [m for m in list(sys.modules.values()) if self._tagged_module(m)]:
            if self._adopted.get(id(module)) is not module:
                self._adopted[id(module)] = module
                self._backend.adopt(module, self.path_of(str(module.__file__)) or "")

    def _tagged_module(self, module: object) -> bool:
        filename = getattr(module, "__file__", None)
        return isinstance(filename, str) and self.path_of(filename) is not None

    def _by_file(self, lines: LineSet, codes: Mapping[int, tuple[types.CodeType, str]]) -> dict[str, list[int]]:
        files: dict[str, set[int]] = {}
        for where, line in lines:
            if isinstance(where, str):  # a probe's
                files.setdefault(where, set()).add(line)
                continue
            known = codes.get(where) or self.import_codes.get(where) if isinstance(where, int) else None
            if known is not None:
                files.setdefault(known[1], set()).add(line)
        return {path: sorted(found) for path, found in sorted(files.items())}

    def wanted(self, path: str) -> Callable[[int], bool]:
        """Which lines of a file get probes: those of its tagged scopes and module-level blocks."""
        spans = [*self.traced.get(path, ()), *self.module_spans.get(path, ())]
        return lambda line: any(start <= line <= end for start, end in spans)

    def record_import_line(self, code: types.CodeType, line: int) -> None:
        self._imported.add((id(code), line))


def _nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    stack = [code]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))


def _module_codes(module: types.ModuleType) -> Iterator[types.CodeType]:
    for function in _module_functions(module):
        yield function.__code__


def _module_functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """The functions reachable from a module's namespace and its classes (defined there), through
    methods, static and class methods, properties and `__wrapped__`."""
    seen: set[int] = set()
    stack: list[object] = list(vars(module).values())
    name = module.__name__
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            yield obj
            wrapped = obj.__dict__.get("__wrapped__")
            if wrapped is not None:
                stack.append(wrapped)
        elif isinstance(obj, (staticmethod, classmethod)):
            stack.append(obj.__func__)
        elif isinstance(obj, property):
            stack += [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
        elif isinstance(obj, type) and obj.__dict__.get("__module__") == name:
            stack += list(vars(obj).values())


class _Backend:
    name = ""

    owner: LineRecorder

    def switch(self, lines: LineSet | None) -> None:
        raise NotImplementedError

    def trace(self, code: types.CodeType) -> None:
        """Start tracing a newly found code object."""

    def adopt(self, module: types.ModuleType, path: str) -> None:
        """Trace the tagged code of an imported module (again, where it was reloaded)."""
        owner: LineRecorder = self.owner
        for code in _module_codes(module):
            if id(code) not in owner.codes:
                owner.register(code)

    def lost(self) -> str:
        """What took tracing away since the test started ("" where nothing did)."""
        return ""

    def close(self) -> None:
        raise NotImplementedError


class _Monitoring(_Backend):
    """sys.monitoring: LINE events on the tagged code objects only."""

    name = "sys.monitoring"

    def __init__(self, owner: LineRecorder):
        monitoring: Any = sys.monitoring  # type: ignore[attr-defined]  # 3.12+; mypy checks as 3.11
        self.monitoring = monitoring
        self.owner = owner
        self.lines: LineSet | None = None
        self.fired: dict[int, types.CodeType] = {}  # code objects whose lines reported since they were armed
        for tool in TOOL_IDS:
            try:
                monitoring.use_tool_id(tool, "tracer")
            except ValueError:
                continue
            self.tool = tool
            break
        else:
            taken = ", ".join(f"{t} ({monitoring.get_tool(t)})" for t in range(6) if monitoring.get_tool(t))
            raise Unavailable(f"sys.monitoring has no free tool id (taken: {taken})")
        self.disable = monitoring.DISABLE
        monitoring.register_callback(self.tool, monitoring.events.LINE, self._line)

    def _line(self, code: types.CodeType, line: int) -> object:
        key = id(code)
        if key in self.owner.import_codes:
            self.owner.record_import_line(code, line)
        else:
            self.fired[key] = code
            lines = self.lines
            if lines is not None:
                lines.add((key, line))
        return self.disable

    def trace(self, code: types.CodeType) -> None:
        self.monitoring.set_local_events(self.tool, code, self.monitoring.events.LINE)

    def switch(self, lines: LineSet | None) -> None:
        self.lines = lines
        if lines is not None:  # each line reports once per test and per fixture set-up: arm again what reported
            events, tool = self.monitoring.events.LINE, self.tool
            for code in self.fired.values():
                self.monitoring.set_local_events(tool, code, 0)
                self.monitoring.set_local_events(tool, code, events)
            self.fired.clear()

    def close(self) -> None:
        for code, _ in [*self.owner.codes.values(), *self.owner.import_codes.values()]:
            self.monitoring.set_local_events(self.tool, code, 0)
        self.monitoring.register_callback(self.tool, self.monitoring.events.LINE, None)
        self.monitoring.free_tool_id(self.tool)


class _SetTrace(_Backend):
    """sys.settrace and threading.settrace, installed only while lines are recorded, giving a line
    tracer to frames of tagged code alone."""

    name = "sys.settrace"

    def __init__(self, owner: LineRecorder):
        self.owner = owner
        self.lines: LineSet | None = None
        self.installed = False
        self.taken = ""
        self.previous_thread_trace: Any = None
        is_traced, codes, paths = owner.is_traced, owner.codes, owner._paths

        def local(frame: types.FrameType, event: str, arg: object) -> Any:
            if event == "line":
                lines = self.lines
                if lines is not None:
                    lines.add((id(frame.f_code), frame.f_lineno))
            return local

        def trace(frame: types.FrameType, event: str, arg: object) -> Any:
            """The one check every frame pays: is its code tagged?"""
            code = frame.f_code
            if paths.get(code.co_filename, 0) is None:
                return None  # a file with no tag: the common case
            if id(code) in codes:
                return local
            if is_traced(code) is not None:
                owner.register(code)
                return local
            return None

        self.trace_function = trace

    def switch(self, lines: LineSet | None) -> None:
        self.lines = lines
        if lines is not None and not self.installed:
            current = sys.gettrace()
            if current is not None:
                self.taken = f"sys.settrace was in use by another tool ({_describe(current)})"
                return
            self.previous_thread_trace = threading.gettrace()
            sys.settrace(self.trace_function)
            threading.settrace(self.trace_function)
            self.installed = True
        elif lines is None and self.installed:
            if sys.gettrace() is self.trace_function:
                sys.settrace(None)
            elif not self.taken:
                self.taken = f"another tool replaced tracer's trace function ({_describe(sys.gettrace())})"
            threading.settrace(self.previous_thread_trace)
            self.installed = False

    def lost(self) -> str:
        taken, self.taken = self.taken, ""
        return taken

    def close(self) -> None:
        self.switch(None)


def _describe(function: object) -> str:
    module = getattr(function, "__module__", None) or getattr(type(function), "__module__", "")
    return f"{module}.{getattr(function, '__qualname__', type(function).__qualname__)}".strip(".")


class _Probes(_Backend):
    """Line probes compiled into the tagged functions: see the module's docstring."""

    name = "line probes"

    def __init__(self, owner: LineRecorder):
        self.owner = owner
        self.spare: LineSet = set()  # where probes add while no test records
        self.namespaces: dict[int, dict[str, Any]] = {}  # the instrumented modules' namespaces, by id
        self.target: LineSet = self.spare
        self.compiled: dict[
            tuple[str, str], tuple[dict[tuple[str, int], types.CodeType], dict[tuple[str, int], types.CodeType]]
        ] = {}
        self.examined: dict[int, types.CodeType] = {}  # code already given probes or left as it is, kept alive

    def switch(self, lines: LineSet | None) -> None:
        self.spare.clear()
        self.target = lines if lines is not None else self.spare
        for namespace in self.namespaces.values():
            namespace[PROBE] = self.target

    def bind(self, namespace: dict[str, Any], target: LineSet | None = None) -> None:
        self.namespaces[id(namespace)] = namespace
        namespace[PROBE] = self.target if target is None else target

    def adopt(self, module: types.ModuleType, path: str) -> None:
        """Give the live functions of a module imported before recording started (or reloaded)
        their instrumented code, where it was compiled from the same source."""
        functions = [
            f
            for f in _module_functions(module)
            if f.__globals__ is module.__dict__ and id(f.__code__) not in self.examined
        ]
        if not functions:
            self.bind(module.__dict__)
            return
        for function in functions:
            self.examined[id(function.__code__)] = function.__code__
        try:
            source = Path(str(module.__file__)).read_text(encoding="utf-8")
            plain, probed = self._compile(source, str(module.__file__), path)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError):
            return
        self.bind(module.__dict__)
        for function in functions:
            code = function.__code__
            key = (code.co_qualname, code.co_firstlineno)
            new, same = probed.get(key), plain.get(key)
            if new is None or same is None or same.co_code != code.co_code or same.co_names != code.co_names:
                continue  # compiled from other source: leave it
            if PROBE in {n for c in _nested_codes(new) for n in c.co_names} and new.co_freevars == code.co_freevars:
                function.__code__ = new
                self.examined[id(new)] = new

    def _compile(
        self, source: str, filename: str, path: str
    ) -> tuple[dict[tuple[str, int], types.CodeType], dict[tuple[str, int], types.CodeType]]:
        key = (filename, source)
        if key not in self.compiled:
            plain = compile(source, filename, "exec", dont_inherit=True)
            probed = instrument(source, filename, path, self.owner.wanted(path))
            self.compiled = {key: (_functions_by_place(plain), _functions_by_place(probed))}  # the latest file only
        return self.compiled[key]

    def close(self) -> None:
        self.switch(None)


def _functions_by_place(code: types.CodeType) -> dict[tuple[str, int], types.CodeType]:
    return {(c.co_qualname, c.co_firstlineno): c for c in _nested_codes(code) if c.co_flags & inspect.CO_OPTIMIZED}


def instrument(source: str, filename: str, path: str, wanted: Callable[[int], bool]) -> types.CodeType:
    """A module's code with a line probe before each statement on the `wanted` lines: the same
    code otherwise, with the same line numbers."""
    tree = ast.parse(source, filename)
    _Prober(path, wanted).visit(tree)
    return compile(ast.fix_missing_locations(tree), filename, "exec", dont_inherit=True)


class _Prober(ast.NodeTransformer):
    """Inserts `__tracer_lines__.add((path, line))` before each statement that runs when reached
    (not before a docstring, a `from __future__` import, `global` or `nonlocal`), and at the top
    of each `except` and `case` body for its own line."""

    def __init__(self, path: str, wanted: Callable[[int], bool]):
        self.path, self.wanted = path, wanted

    def probe(self, line: int, like: ast.AST) -> ast.stmt:
        where: Any = (self.path, line)  # a constant tuple: built once, when the code is compiled
        call = ast.Call(ast.Attribute(ast.Name(PROBE, ast.Load()), "add", ast.Load()), [ast.Constant(where)], [])
        return ast.copy_location(ast.Expr(call), like)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                setattr(node, name, self.probed(statements, node, name == "body"))
        if isinstance(node, ast.ExceptHandler) and self.wanted(node.lineno):
            node.body.insert(0, self.probe(node.lineno, node.body[0]))
        if isinstance(node, ast.match_case) and self.wanted(node.pattern.lineno):
            node.body.insert(0, self.probe(node.pattern.lineno, node.body[0]))
        return node

    def probed(self, statements: list[ast.stmt], owner: ast.AST, body: bool) -> list[ast.stmt]:
        kept: list[ast.stmt] = []
        rest = list(statements)
        if (
            body
            and isinstance(owner, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and _is_docstring(rest[0])
        ):
            kept.append(rest.pop(0))
        while (
            isinstance(owner, ast.Module)
            and rest
            and isinstance(rest[0], ast.ImportFrom)
            and rest[0].module == "__future__"
        ):
            kept.append(rest.pop(0))
        for statement in rest:
            if self.wanted(statement.lineno) and not isinstance(statement, (ast.Global, ast.Nonlocal)):
                kept.append(self.probe(statement.lineno, statement))
            kept.append(statement)
        return kept


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


class _ImportObserver:
    """A meta path finder that hands tagged modules to a loader that shows their code to the
    recorder before running it: so every code object of a module imported from now on is
    traced, and its module-level blocks are recorded as they run at import."""

    def __init__(self, owner: LineRecorder):
        self.owner = owner
        self.stems = {os.path.splitext(os.path.basename(path))[0] for path in owner.files}
        self.stems |= {os.path.basename(os.path.dirname(path)) for path in owner.files if path.endswith("__init__.py")}

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None) -> Any:
        if fullname.rpartition(".")[2] not in self.stems:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader or not spec.origin:
            return None
        project_path = self.owner.path_of(spec.origin)
        if project_path is None:
            return None
        spec.loader = _ObservedLoader(fullname, spec.origin, self.owner, project_path)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing cached here."""


class _ObservedLoader(importlib.machinery.SourceFileLoader):
    """The standard source loader, except that the recorder sees the module's code first."""

    def __init__(self, fullname: str, path: str, owner: LineRecorder, project_path: str):
        super().__init__(fullname, path)
        self.owner, self.project_path = owner, project_path

    def exec_module(self, module: types.ModuleType) -> None:
        owner = self.owner
        backend = owner._backend
        if isinstance(backend, _Probes):
            source = self.get_source(module.__name__)
            if source is not None:
                probed = instrument(source, self.path, self.project_path, owner.wanted(self.project_path))
                backend.bind(module.__dict__, owner._imported)
                try:
                    exec(probed, module.__dict__)
                finally:
                    backend.bind(module.__dict__)
                return
        code = self.get_code(module.__name__)
        if code is None:
            raise ImportError(f"cannot load the code of {module.__name__}")
        at_import = owner.register_import(code, self.project_path)
        owner.register(code)
        if isinstance(backend, _Monitoring):
            for traced in at_import:
                backend.trace(traced)
            exec(code, module.__dict__)
        elif isinstance(backend, _SetTrace) and at_import and sys.gettrace() in (None, backend.trace_function):
            imported, previous = owner.import_codes, sys.gettrace()

            def local(frame: types.FrameType, event: str, arg: object) -> Any:
                if event == "line":
                    owner.record_import_line(frame.f_code, frame.f_lineno)
                return local

            def trace(frame: types.FrameType, event: str, arg: object) -> Any:
                return local if id(frame.f_code) in imported else None

            sys.settrace(trace)
            try:
                exec(code, module.__dict__)
            finally:
                sys.settrace(previous)
        else:
            exec(code, module.__dict__)


def fixture_scope_key(argname: str, baseid: str, scope: str, node_id: str, param_index: int | None) -> str:
    """A wider fixture's set-up, the same in every process: where it is defined, its scope's node
    and its parameter."""
    return f"{baseid}::{argname} ({scope} {node_id or '<session>'})" + (
        "" if param_index is None else f"[{param_index}]"
    )


__all__ = ["Executions", "LineRecorder", "ProcessRecording", "Unavailable", "fixture_scope_key", "instrument"]
