"""tracer: bug reports, bug-ID tags in code and test evidence, rendered into code-change documents."""

__version__ = "0.1.0"
