"""docs/kvmtool.md shows the option table vmm-lkvm works from."""

from __future__ import annotations

from pathlib import Path

from vmm.core.lkvm.dialect import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "kvmtool.md"


def test_the_option_table_in_the_docs_is_current():
    text = DOC.read_text()
    begin, end = "<!-- lkvm-table-begin -->\n", "<!-- lkvm-table-end -->"
    shown = text[text.index(begin) + len(begin):text.index(end)]
    assert shown == markdown_table(), (
        "docs/kvmtool.md's table is stale: paste vmm.core.lkvm.dialect.markdown_table()")
