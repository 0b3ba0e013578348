"""Copy the cross-validation table of the shipped weights' report into README.md, between its markers.

    python scripts/update_readme_table.py [REPORT.md]   # default: reports/nested/cv_report.md (deceptio train --nested)

It also writes the figures of "Where we stand, in plain words" (between the
``standing`` markers) from the report's JSON beside it, so that the prose
quotes the report and no figure is typed by hand.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_REPORT = REPO / "reports" / "nested" / "cv_report.md"
START, END = "<!-- cv-table:start -->", "<!-- cv-table:end -->"
STANDING_START, STANDING_END = "<!-- standing:start -->", "<!-- standing:end -->"
MODELS = ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody")


def table_from_report(report_md: str, folder: str = "reports") -> str:
    """The report without its title, figure links pointing into ``folder`` (the report's, relative to the README)."""
    body = report_md.split("\n", 2)[2] if report_md.startswith("# ") else report_md
    return re.sub(r"\]\((?!https?:)([^)/]+)\)", lambda m: f"]({folder}/{m.group(1)})", body.strip())


def standing_from_report(report: dict) -> str:
    """The headline figures of a report in words: the best ResNet and the ensemble beside the baselines, line by line."""
    methods = report["methods"]
    metric = lambda name, key: methods[name]["metrics"][key]  # noqa: E731
    models = [name for name in MODELS if name in methods]

    def best(key: str) -> str:
        return max(models, key=lambda n: metric(n, key)["mean"])

    def value(name: str, key: str, ci: bool = False) -> str:
        m = metric(name, key)
        interval = f" [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]" if ci and "ci95" in m else ""
        return f"{m['mean']:.3f}{interval}"

    def sentence(what: str, key: str, baselines: tuple[str, ...], ci: bool = False) -> str:
        top = best(key)
        rest = ", ".join(f"`{b}` {value(b, key, ci)}" for b in baselines if b in methods)
        return (f"{what}: the best ResNet, `{top}`, {value(top, key, ci)}; the ensemble {value('ensemble', key, ci)}; "
                f"{rest}.")

    gender = [metric(n, "auc_score_gender")["mean"] for n in (*models, "ensemble")]
    ece = [metric(n, "ece")["mean"] for n in (*models, "ensemble")]
    dominant = report["data"]["dominant_speaker"]
    return "\n".join([
        "In the report's figures (mean over the outer repeats; brackets: 95 % intervals resampling speakers; "
        "the best ResNet of each line is picked after the fact):",
        "",
        "- " + sentence("Overall ROC AUC", "auc", ("mfcc_logreg", "gender_pitch", "majority"), ci=True),
        "- " + sentence("Gender-balanced AUC", "gender_balanced_auc", ("mfcc_logreg", "gender_pitch")),
        "- " + sentence(f"Among women without {dominant}", "auc_female_without_dominant", ("mfcc_logreg", "gender_pitch"),
                        ci=True),
        "- " + sentence("Within a speaker's own clips", "auc_within_speaker", ("mfcc_logreg", "gender_pitch")),
        f"- What the scores say about gender (AUC score→gender): {min(gender):.3f}–{max(gender):.3f} over the ResNets "
        f"and the ensemble, against the label's own {report['data']['auc_label_gender']:.3f}.",
        f"- Calibration error (ECE, 10 bins): {min(ece):.3f}–{max(ece):.3f} over the ResNets and the ensemble.",
    ])


def _replace(text: str, start: str, end: str, body: str) -> str | None:
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        print(f"README.md has no {start} … {end} section", file=sys.stderr)
        return None
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    report = Path(argv[0]).resolve() if argv else SHIPPED_REPORT
    readme = REPO / "README.md"
    table = table_from_report(report.read_text(), Path(os.path.relpath(report.parent, REPO)).as_posix())
    text = _replace(readme.read_text(), START, END, table)
    if text is None:
        return 1
    report_json = report.with_suffix(".json")
    if report_json.is_file():
        text = _replace(text, STANDING_START, STANDING_END, standing_from_report(json.loads(report_json.read_text())))
        if text is None:
            return 1
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
