"""Screens training configurations on one variant in the report's own folds, and writes what each measured.

Every configuration tried counts against the honesty of the figure that is
finally shipped: with enough tries one wins by chance. This script keeps the
count and the results. It cross-validates one variant (``spec_prosody`` by
default: the best in the report) over the first ``--repeats`` repeats of the
report's folds for the configuration fixed in advance and for each candidate
below, and writes ``reports/screening.json`` and ``reports/screening.md``.
``deceptio evaluate`` reads the count from there. A candidate would only be
adopted if it beat the fixed configuration by more than the spread across
repeats, and the report would then say that it was chosen this way.

Trained folds are cached (``~/.cache/deceptio/cv``), so a second run only
trains what is new.

Usage::

    python benchmarks/screen_configs.py [--variant spec_prosody] [--repeats 2] [--out reports]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path


from deceptio.paths import REPO
from deceptio.training.data import default_cache_dir, default_manifest, extract_dataset, load_dataset
from deceptio.training.cv import CVConfig, cross_validate
from deceptio.modeling.card import ModelInput
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.models import ModelConfig
from deceptio.runtime import tune_allocator
from deceptio.training.train import TrainConfig

DEFAULT_MANIFEST = default_manifest()

# name -> (what it tests, model overrides, train overrides, window overrides). "fixed" is the configuration fixed in advance.
CANDIDATES: dict[str, tuple[str, dict, dict, dict]] = {
    "fixed": ("the configuration fixed in advance (shipped)", {}, {}, {}),
    "mixup": ("mixup of crops and targets, Beta(0.4, 0.4)", {}, {"mixup": 0.4}, {}),
    "stretch_noise": ("speed perturbation ±15 % of the crop + Gaussian noise 0.1 on the images", {},
                      {"time_stretch": 0.15, "noise": 0.1}, {}),
    "width32": ("twice the width (32 channels in the first stage, 1.2 M parameters)", {"width": 32}, {}, {}),
    "window800": ("8 s windows (800 frames, hop 400) instead of 4 s", {}, {}, {"window_frames": 800, "hop_frames": 400}),
}

METRICS = ("auc", "auc_female", "ece", "auc_score_gender", "gender_balanced_auc", "auc_female_without_dominant")


def _summary(metric: dict) -> dict:
    return {"mean": metric["mean"], "std": metric["std"]}


def _measure(data: list, variant: str, name: str, cv: CVConfig) -> tuple[dict, dict]:
    """Cross-validate candidate ``name`` on ``variant``: its metrics (mean and sd over repeats) and the whole report."""
    _, model_overrides, train_overrides, window_overrides = CANDIDATES[name]
    inputs = ModelInput(window=replace(WindowConfig(), **window_overrides))
    report = cross_validate(data, variants=(variant,), cv=cv, model_config=replace(ModelConfig(), **model_overrides),
                            train_config=replace(TrainConfig(), **train_overrides), inputs=inputs,
                            cache_dir=default_cache_dir(), progress=False)
    metrics = report["methods"][variant]["metrics"]
    return {key: _summary(metrics[key]) for key in METRICS if key in metrics}, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--variant", default="spec_prosody")
    parser.add_argument("--repeats", type=int, default=2, help="first repeats of the report's 5-fold splits")
    parser.add_argument("--only", nargs="*", default=None, help="candidates to run (default: all)")
    parser.add_argument("--confirm", default=None, metavar="NAME",
                        help="then run NAME and the fixed configuration on the report's remaining repeats (seeds --repeats..4)")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    args = parser.parse_args(argv)
    tune_allocator()

    data = extract_dataset(load_dataset(args.data), feature_config=ModelInput().features, cache_dir=default_cache_dir())
    rows, screening_report = {}, None
    for name in args.only or CANDIDATES:
        description, model_overrides, train_overrides, window_overrides = CANDIDATES[name]
        start = time.perf_counter()
        summary, screening_report = _measure(data, args.variant, name, CVConfig(repeats=args.repeats))
        rows[name] = {"description": description, "model": model_overrides, "train": train_overrides, "window": window_overrides,
                      "seconds": round(time.perf_counter() - start, 1), **summary}
        print(f"{name:<14} AUC {summary['auc']['mean']:.3f} ± {summary['auc']['std']:.3f}  female {summary['auc_female']['mean']:.3f}"
              f"  ECE {summary['ece']['mean']:.3f}  score→gender {summary['auc_score_gender']['mean']:.3f}", flush=True)
    fixed = rows.get("fixed")
    confirmation = None
    if args.confirm:
        confirmation = {"candidate": args.confirm, "seeds": list(range(args.repeats, 5))}
        for name in ("fixed", args.confirm):
            summary, _ = _measure(data, args.variant, name, CVConfig(repeats=5 - args.repeats, first_seed=args.repeats))
            confirmation[name] = summary
            print(f"confirmation, seeds {confirmation['seeds']}: {name:<14} AUC {summary['auc']['mean']:.3f} ± {summary['auc']['std']:.3f}"
                  f"  score→gender {summary['auc_score_gender']['mean']:.3f}", flush=True)
    result = {
        "variant": args.variant,
        "repeats": args.repeats,
        "fold_assignments_sha256": screening_report["protocol"]["fold_assignments_sha256"],
        "configurations_tried": len(rows),
        "rows": rows,
        "confirmation": confirmation,
        "adopted": "fixed",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "screening.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"# Configurations screened on `{args.variant}` ({args.repeats} repeats of the report's speaker-grouped 5-fold splits)",
        "",
        "Written by `python benchmarks/screen_configs.py`. Mean ± sd over repeats; Δ is against the configuration fixed in advance. "
        f"The label itself predicts the subject's gender with AUC {screening_report['data']['auc_label_gender']:.3f}: a score "
        "above that is more a gender detector than the label.",
        "",
        "| configuration | what it changes | AUC | Δ AUC | female AUC | gender-balanced AUC | ECE | AUC score→gender |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in rows.items():
        delta = f"{row['auc']['mean'] - fixed['auc']['mean']:+.3f}" if fixed and name != "fixed" else ""
        lines.append(
            f"| {name} | {row['description']} | {row['auc']['mean']:.3f} ± {row['auc']['std']:.3f} | {delta} | "
            f"{row['auc_female']['mean']:.3f} ± {row['auc_female']['std']:.3f} | {row['gender_balanced_auc']['mean']:.3f} | "
            f"{row['ece']['mean']:.3f} | "
            f"{row['auc_score_gender']['mean']:.3f} |"
        )
    if confirmation:
        lines += ["", f"Confirmation of `{args.confirm}` on the report's other repeats (seeds {confirmation['seeds']}, not used to screen):", "",
                  "| configuration | AUC | female AUC | gender-balanced AUC | AUC score→gender |", "| --- | --- | --- | --- | --- |"]
        for name in ("fixed", args.confirm):
            row = confirmation[name]
            lines.append(f"| {name} | {row['auc']['mean']:.3f} ± {row['auc']['std']:.3f} | {row['auc_female']['mean']:.3f} | "
                         f"{row['gender_balanced_auc']['mean']:.3f} | {row['auc_score_gender']['mean']:.3f} |")
    lines += ["", "Adopted: the configuration fixed in advance. A configuration found by screening on the data the report is "
              "measured on would make the shipped figures optimistic; a screened candidate is only a hypothesis for the "
              "next corpus."]
    (args.out / "screening.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'screening.md'} and {args.out / 'screening.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
