"""The README opens with the two commands and carries the report's table, not a hand-made one."""

from __future__ import annotations

import re

from conftest import REPO


def test_readme_opens_with_setup_and_test_commands():
    text = (REPO / "README.md").read_text()
    body = text.split("---", 2)[2] if text.startswith("---") else text  # Hugging Face Spaces front matter
    first_block = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert "pip install -r requirements.txt" in commands[0]
    assert commands[1] == "bash .ci/run"


def test_readme_table_is_the_shipped_weights_report():
    """The README carries the table of the report the shipped cards' figures come from (deceptio train --nested)."""
    import json

    folder = REPO / "reports" / "nested"
    figures = json.loads((folder / "cv_report.json").read_text())["methods"]
    for name in ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody", "ensemble"):
        card = json.loads((REPO / "weights" / f"{name}.json").read_text())
        assert card["cv"]["auc"]["mean"] == figures[name]["metrics"]["auc"]["mean"], name
    readme = (REPO / "README.md").read_text()
    report = (folder / "cv_report.md").read_text()
    table_rows = [line for line in report.splitlines() if line.startswith("| ")]
    assert len(table_rows) >= 10
    for row in table_rows:
        assert row in readme, f"README lacks the report row {row[:60]}…; run scripts/update_readme_table.py"
    assert "](reports/nested/reliability.png)" in readme


def test_readme_standing_figures_are_the_reports():
    """The figures of "Where we stand" are written from the shipped report by scripts/update_readme_table.py, not typed."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("update_readme_table", REPO / "scripts" / "update_readme_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    report = json.loads((REPO / "reports" / "nested" / "cv_report.json").read_text())
    standing = script.standing_from_report(report)
    auc = report["methods"]["mfcc_logreg"]["metrics"]["auc"]["mean"]
    assert f"`mfcc_logreg` {auc:.3f}" in standing  # the generator quotes the report
    readme = (REPO / "README.md").read_text()
    assert f"{script.STANDING_START}\n{standing}\n{script.STANDING_END}" in readme, "run scripts/update_readme_table.py"


def test_readme_prose_on_the_grid_quotes_the_reports_inner_figures():
    """Every three-decimal figure in "What the second nested run added" is one of the report's inner-CV figures."""
    import json
    import re

    readme = (REPO / "README.md").read_text()
    start = readme.index("**What the second nested run added.**")
    paragraph = readme[start: readme.index("\n\n", start)]
    quoted = set(re.findall(r"\b[01]\.\d{3}\b", paragraph))
    assert len(quoted) >= 10  # the paragraph compares configurations by their figures
    report = json.loads((REPO / "reports" / "nested" / "cv_report.json").read_text())
    known = set()
    for row in report["protocol"]["shipped"].values():
        for key in ("inner_gender_balanced_auc", "inner_score_gender_auc"):
            known |= {f"{value:.3f}" for value in row.get(key, {}).values()}
    for method in report["methods"].values():
        known |= {f"{value:.3f}" for value in method.get("arousal_auc", {}).values()}
    assert quoted <= known, f"README figures not in the report: {sorted(quoted - known)}"
