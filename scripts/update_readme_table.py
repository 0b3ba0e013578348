"""Copy the cross-validation table of reports/cv_report.md into README.md, between its markers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- cv-table:start -->", "<!-- cv-table:end -->"


def table_from_report(report_md: str) -> str:
    """The report without its title, figure links pointing into reports/."""
    body = report_md.split("\n", 2)[2] if report_md.startswith("# ") else report_md
    return re.sub(r"\]\((?!https?:)([^)/]+)\)", r"](reports/\1)", body.strip())


def main() -> int:
    readme = REPO / "README.md"
    table = table_from_report((REPO / "reports" / "cv_report.md").read_text())
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"README.md has no {START} … {END} section", file=sys.stderr)
        return 1
    readme.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
