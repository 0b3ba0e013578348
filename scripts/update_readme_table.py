"""Copy the cross-validation table of the shipped weights' report into README.md, between its markers.

    python scripts/update_readme_table.py [REPORT.md]   # default: reports/nested/cv_report.md (deceptio train --nested)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_REPORT = REPO / "reports" / "nested" / "cv_report.md"
START, END = "<!-- cv-table:start -->", "<!-- cv-table:end -->"


def table_from_report(report_md: str, folder: str = "reports") -> str:
    """The report without its title, figure links pointing into ``folder`` (the report's, relative to the README)."""
    body = report_md.split("\n", 2)[2] if report_md.startswith("# ") else report_md
    return re.sub(r"\]\((?!https?:)([^)/]+)\)", lambda m: f"]({folder}/{m.group(1)})", body.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    report = Path(argv[0]).resolve() if argv else SHIPPED_REPORT
    readme = REPO / "README.md"
    table = table_from_report(report.read_text(), Path(os.path.relpath(report.parent, REPO)).as_posix())
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"README.md has no {START} … {END} section", file=sys.stderr)
        return 1
    readme.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
