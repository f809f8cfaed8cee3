"""The site's search index: IDs, titles, tags, checklist items, changed scopes and tag texts of
every bug, as a small JavaScript file that sets one global (a `fetch` of JSON fails from
`file://`; a `<script src>` does not). Compact on purpose, arrays rather than objects and each
path once, so that a hundred bugs stay under 50 kB; the page's script expands it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from tracer.status import BugStatus

GLOBAL = "tracerSearch"


def search_entries(bugs: Iterable[BugStatus], page_stem: Callable[[str], str]) -> dict[str, list[object]]:
    """{"paths": [...], "bugs": [[id, title, status, page stem, tags, [[item id, text], ...],
    [[qualname, path index, [tag text, ...]], ...]], ...]}: the scopes in the bug page's order,
    so the page's `#scope-N` anchors follow from their places."""
    paths: dict[str, int] = {}
    rows: list[object] = []
    for bug in sorted(bugs, key=lambda b: b.report.bug_id):
        report = bug.report
        items = [[item.id, item.text] for item in report.checklist]
        scopes = []
        for tagged in bug.tagged:
            index = paths.setdefault(tagged.path, len(paths))
            scopes.append([tagged.scope.qualname, index, [c.text for c in tagged.changes if c.text]])
        rows.append([report.bug_id, report.title, str(report.status), page_stem(report.bug_id), " ".join(report.tags), items, scopes])
    return {"paths": list(paths), "bugs": rows}


def search_script(entries: dict[str, list[object]]) -> str:
    """The index as `window.tracerSearch = {...};`: JSON is a JavaScript expression, and in a file
    of its own (not inline in a page) no text in it can end a `<script>` element."""
    data = json.dumps(entries, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return f"window.{GLOBAL}={data};\n"
