"""The site's search index: IDs, titles, tags, checklist items, changed scopes and tag texts of
every bug, as a small JavaScript file that sets one global (a `fetch` of JSON fails from
`file://`; a `<script src>` does not).

Compact on purpose, so that a hundred bugs stay under 50 kB: arrays rather than objects, each
path once, and every text as the places of its words in one word list, most frequent first (the
words of a project's reports repeat: "test", "float16", "gradient"). The page's script puts
the texts back together."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable

from tracer.status import BugStatus

GLOBAL = "tracerSearch"


def search_entries(bugs: Iterable[BugStatus], page_stem: Callable[[str], str]) -> dict[str, list[object]]:
    """{"words": [...], "paths": [...], "bugs": [[id, title, status, page stem or null, tags,
    [[item id, text], ...], [[qualname, path index, [tag text, ...]], ...]], ...]}, each title,
    status, tag list, item text and tag text a list of indexes into "words"; the scopes in the
    bug page's order, so the page's `#scope-N` anchors follow from their places."""
    bugs = sorted(bugs, key=lambda b: b.report.bug_id)
    counts = Counter(
        word
        for bug in bugs
        for text in [
            bug.report.title,
            str(bug.report.status),
            " ".join(bug.report.tags),
            *(i.text for i in bug.report.checklist),
            *(c.text for t in bug.tagged for c in t.changes),
        ]
        for word in text.split()
    )
    place = {word: index for index, word in enumerate(sorted(counts, key=lambda word: (-counts[word], word)))}

    def coded(text: str) -> list[int]:
        return [place[word] for word in text.split()]

    paths: dict[str, int] = {}
    rows: list[object] = []
    for bug in bugs:
        report = bug.report
        items = [[item.id, coded(item.text)] for item in report.checklist]
        scopes = []
        for tagged in bug.tagged:
            index = paths.setdefault(tagged.path, len(paths))
            scopes.append([tagged.scope.qualname, index, [coded(c.text) for c in tagged.changes if c.text]])
        # the page's name only where the script cannot derive it from an ASCII ID as page_stem does
        stem = None if report.bug_id.isascii() else page_stem(report.bug_id)
        rows.append(
            [
                report.bug_id,
                coded(report.title),
                coded(str(report.status)),
                stem,
                coded(" ".join(report.tags)),
                items,
                scopes,
            ]
        )
    return {"words": list(place), "paths": list(paths), "bugs": rows}


def search_script(entries: dict[str, list[object]]) -> str:
    """The index as `window.tracerSearch = {...};`: JSON is a JavaScript expression, and in a file
    of its own (not inline in a page) no text in it can end a `<script>` element."""
    data = json.dumps(entries, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return f"window.{GLOBAL}={data};\n"
