"""tracer: bug reports, bug-ID tags in code and test evidence, rendered into code-change documents.

The pipeline, one way (each module imports only those below it; import-linter checks it in CI):

    cli, plugin            the shells: options, printing, exit codes; pytest hooks
    formats -> api         output formats; the Project facade, each answer computed once per command
    check, new, prove      the gate, new reports, proofs against the pre-fix revision
    render -> evidence     documents from templates; test results, fingerprints, item states
    reports, diffs,        bug reports (YAML front matter); diffs against the pre-fix revision;
    sources -> scanner     which files, and their tags (libcst)
    config, cache, gitio, fileio, sourcetext, problems    the ground floor
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bugfix-tracer")  # one version: the package metadata's
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
