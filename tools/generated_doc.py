"""A document made from the code (the rule table, the state table): written by its tool, or,
with ``--check`` as CI runs it, compared with the committed file, so that the document a reader
opens is the one the code runs."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(tool: str, doc: Path, root: Path, build, argv: list[str]) -> int:
    """``python tools/TOOL.py [--check]``: exit 0 written or current, 1 out of date, 2 an
    unknown option. ``build()`` makes the document's text (only once the options are
    known good)."""
    bad = [a for a in argv if a != "--check"]
    if bad:
        print(f"{tool}: unknown option {' '.join(bad)}: use --check or nothing",
              file=sys.stderr)
        return 2
    text = build()
    rel = doc.relative_to(root)
    if "--check" in argv:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        if current != text:
            print(f"{tool}: {rel} is out of date: run 'python tools/{tool}.py' and commit it",
                  file=sys.stderr)
            return 1
        print(f"{tool}: {rel} is current")
        return 0
    doc.write_text(text, encoding="utf-8")
    print(f"{tool}: wrote {rel}")
    return 0
