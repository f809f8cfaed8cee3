"""The sandbox a project's templates run in: a template is data from the repository, so it reads
what it is given, runs no Python of its own, reads no file outside its folder, and cannot take
minutes or gigabytes.

- Jinja2's immutable sandbox: no private attributes, no code, no changing the values it is given.
- `GuardedLoader`: a template (or an include) is read only where it resolves inside its own
  folder and is a regular file of at most `max_report_bytes`; a symlink out is an error, never
  followed (`guard`).
- A budget per run (`max_template_steps`, `max_template_seconds`, `max_output_chars`): every
  call, attribute or item lookup, operator and loop turn is a step; `*`, `**`, `%`, `~`, `+` and
  the filters and string methods that build large values are checked before or as they build
  them; the output is counted as it is produced. Going over a limit is an error naming the
  template and line, as every other error a template raises (`run_template`).

What a sandbox cannot promise: a limit is checked at a step, so one step builds at most about
twice `max_output_chars` before it is stopped, and time spent inside one library call (a sort of a
list of the allowed size, say) is not interrupted."""

from __future__ import annotations

import functools
import math
import os
import posixpath
import re
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tracer.escape import unencodable
from tracer.guard import UnsafePath, read_bytes
from tracer.problems import TracerError


@dataclass(frozen=True)
class TemplateLimits:
    """What one template run may take (the `max_*` keys of `[tool.tracer]`)."""

    chars: int = 10_000_000  # max_output_chars: the output, and any one value a template makes
    steps: int = 5_000_000  # max_template_steps
    seconds: float = 60  # max_template_seconds
    template_bytes: int = 1_000_000  # max_report_bytes: the size of one template file


class TemplateLimitError(Exception):
    """A template went over one of its limits."""


class TemplateRefused(jinja2.TemplateError):
    """A template file that is not read: outside its folder, no regular file, or too large."""


_SIZED = (str, bytes, list, tuple, dict, set, frozenset)
_DIGITS = re.compile(r"\d+")


class Budget:
    """The steps and time one run has left, shared by an environment and its overlays."""

    def __init__(self, limits: TemplateLimits):
        self.limits = limits
        self.steps = 0
        self.deadline = math.inf

    def start(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + self.limits.seconds

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise TemplateLimitError(f"the template ran more than {self.limits.steps:,} steps (max_template_steps)")
        if not self.steps & 0x3FF and time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"the template ran longer than {self.limits.seconds:g} seconds (max_template_seconds)"
            )

    def sized(self, value: Any) -> Any:
        """`value`, where it is no larger than a template may make."""
        if isinstance(value, _SIZED) and len(value) > self.limits.chars:
            self.too_large(len(value))
        return value

    def too_large(self, size: int) -> None:
        raise TemplateLimitError(
            f"the template makes a value of {size:,} characters or items; "
            f"at most {self.limits.chars:,} (max_output_chars)"
        )

    def check_size(self, size: int) -> None:
        if size > self.limits.chars:
            self.too_large(size)

    def check_arguments(self, args: Iterable[Any]) -> None:
        """Numbers that ask for more characters than a value may have (a width, a count)."""
        for value in args:
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > self.limits.chars:
                self.too_large(abs(value))

    def check_format(self, text: Any) -> None:
        """A format string whose width or precision asks for more characters than allowed."""
        if isinstance(text, str):
            for digits in _DIGITS.findall(text):
                if len(digits) > 12 or int(digits) > self.limits.chars:
                    self.too_large(int(digits) if len(digits) <= 12 else 10**12)

    def check_replace(self, text: Any, old: Any, new: Any) -> None:
        if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
            count = text.count(old) if old else len(text) + 1
            self.check_size(len(text) + count * max(0, len(new) - len(old)))

    def check_join(self, values: list[Any], separator: Any) -> None:
        separator_size = len(separator) if isinstance(separator, str) else 0
        total = 0
        for value in values:
            total += (len(value) if isinstance(value, _SIZED) else 20) + separator_size
            self.check_size(total)


class _CountingCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every `~` concatenation's result checked against the limit."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.budget.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a budget of steps, time and sizes for every run."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CountingCodeGenerator

    def __init__(self, limits: TemplateLimits, **options: Any):
        super().__init__(**options)
        self.budget = Budget(limits)
        self.template_files: set[str] = set()  # the files read, to find a failing template's line
        self.filters = {name: _guarded_filter(name, function, self.budget) for name, function in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's tree, with every `for` loop's iterable counted turn by turn."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("counted"), [loop.iter], [], None, None, lineno=loop.iter.lineno
            )
        return tree

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for value in iterable:
            self.budget.tick()
            yield value

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's own signature
        __self.budget.tick()
        _check_method_call(__self.budget, __obj, args, kwargs)
        return __self.budget.sized(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.budget.tick()
        return self.budget.sized(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.budget.tick()
        return self.budget.sized(super().getitem(obj, argument))

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        budget = self.budget
        budget.tick()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(times, int):
                    budget.check_size(len(sequence) * times)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            budget.check_size(right * abs(left).bit_length() // 3)  # about the digits of the result
        elif operator == "%":
            budget.check_format(left)
        return budget.sized(super().call_binop(context, operator, left, right))


def _check_method_call(budget: Budget, function: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Before a template calls a method of a string or a list: the size it would build."""
    target = getattr(function, "__wrapped__", function)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if not isinstance(owner, (str, bytes, list, tuple)):
        return
    name = getattr(target, "__name__", "")
    budget.check_arguments([*args, *kwargs.values()])
    if name in ("format", "format_map"):
        budget.check_format(owner)
    elif name == "replace" and len(args) >= 2:
        budget.check_replace(owner, args[0], args[1])
    elif name == "expandtabs" and isinstance(owner, str):
        size = args[0] if args else kwargs.get("tabsize", 8)
        budget.check_size(len(owner) * max(1, size if isinstance(size, int) else 8))
    elif name == "join" and args and isinstance(args[0], (list, tuple)):
        budget.check_join(list(args[0]), owner)


def _guarded_filter(name: str, function: Callable[..., Any], budget: Budget) -> Callable[..., Any]:
    """A filter that counts as a step, refuses arguments that ask for too much, and whose result is
    checked against the limit."""

    @functools.wraps(function)  # keeps Jinja's pass_context and friends
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget.tick()
        values = [
            a for a in args if not isinstance(a, (jinja2.runtime.Context, jinja2.nodes.EvalContext, jinja2.Environment))
        ]
        budget.check_arguments([*values[1:], *kwargs.values()])
        if name == "format" and values:
            budget.check_format(values[0])
        elif name == "replace" and len(values) >= 3:
            budget.check_replace(values[0], values[1], values[2])
        elif name == "indent" and values and isinstance(values[0], str):
            width = values[1] if len(values) > 1 else kwargs.get("width", 4)
            budget.check_size(
                len(values[0]) + (values[0].count("\n") + 1) * (len(width) if isinstance(width, str) else int(width))
            )
        elif name == "join" and values and isinstance(values[0], Iterable) and not isinstance(values[0], (str, dict)):
            items = list(values[0])
            budget.check_join(items, values[1] if len(values) > 1 else kwargs.get("d", ""))
            args = tuple(items if a is values[0] else a for a in args)
        return budget.sized(function(*args, **kwargs))

    return guarded


class GuardedLoader(jinja2.BaseLoader):
    """Templates from one folder, read through `guard`: only regular files that resolve inside
    the folder, of at most `limit` bytes; a link out is TemplateRefused, never followed."""

    def __init__(self, folder: Path, limit: int, shown: str):
        self.folder, self.limit, self.shown = folder, limit, shown

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        filename = posixpath.join(os.fspath(self.folder), *pieces)
        if not os.path.lexists(filename):
            raise jinja2.TemplateNotFound(template)
        try:
            text = read_bytes(self.folder, Path(filename), self.limit, "max_report_bytes", "the template").decode(
                "utf-8"
            )
        except UnsafePath as error:
            raise TemplateRefused(f"{self.shown}/{'/'.join(pieces)}: {error.message}") from None
        except UnicodeDecodeError:
            raise TemplateRefused(f"{self.shown}/{'/'.join(pieces)}: not valid UTF-8") from None
        if isinstance(environment, BudgetedSandbox):
            environment.template_files.add(filename)
        mtime = os.path.getmtime(filename)
        return text, filename, lambda: os.path.exists(filename) and os.path.getmtime(filename) == mtime


def run_template(
    environment: jinja2.Environment, name: str, context: Mapping[str, Any], shown: Callable[[str], str]
) -> str:
    """A template's text. Every error it raises, a Jinja error or any other (a division by zero,
    a limit, memory, recursion), is a TracerError naming the template and line (`shown` turns a
    template's file name into the path to show)."""
    budget = environment.budget if isinstance(environment, BudgetedSandbox) else Budget(TemplateLimits())
    budget.start()
    try:
        parts, size = [], 0
        for chunk in environment.get_template(name).generate(context):
            size += len(chunk)
            budget.check_size(size)
            parts.append(chunk)
        text = "".join(parts)
    except jinja2.TemplateSyntaxError as error:
        raise TracerError(f"template error: {error.message}", shown(error.filename or name), error.lineno) from None
    except jinja2.TemplateError as error:
        where, line = _failing_line(environment, error, name)
        raise TracerError(f"template error: {error.message or error}", shown(where), line) from None
    except RecursionError as error:
        where, line = _failing_line(environment, error, name)
        raise TracerError(
            "template error: templates include, extend or call each other without end", shown(where), line
        ) from None
    except TemplateLimitError as error:
        where, line = _failing_line(environment, error, name)
        raise TracerError(f"template error: {error}", shown(where), line) from None
    except Exception as error:  # noqa: BLE001 - any error a template raises is that template's error
        where, line = _failing_line(environment, error, name)
        message = str(error)
        message = message if len(message) <= 200 else message[:200] + "..."
        raise TracerError(f"template error: {type(error).__name__}: {message}", shown(where), line) from None
    bad = unencodable(text)
    if bad is not None:
        raise TracerError(
            f"template error: the output holds a lone surrogate (U+{ord(text[bad]):04X}), which is no text", shown(name)
        )
    return text


def _failing_line(environment: jinja2.Environment, error: BaseException, name: str) -> tuple[str, int | None]:
    """The template file and line where `error` was raised (Jinja rewrites the traceback so that
    template code shows its file and line), else the template run."""
    files: set[str] = getattr(environment, "template_files", set())
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in files]
    if frames:
        return frames[-1].filename, frames[-1].lineno
    return name, None
