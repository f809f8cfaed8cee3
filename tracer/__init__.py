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

DISTRIBUTION = "bugfix-tracer"  # "tracer" on the public index is an unrelated project; the command is `tracer`


def __getattr__(name: str) -> str:
    """`tracer.__version__`, read from the package metadata when asked: one version, and no
    40 ms import of importlib.metadata on commands that never show it."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
