"""Rewrite the shipped cards' ``training_data`` block from the corpus, and their figures from the saved report.

The weights are untouched. The counts and figures come from
``reports/nested/cv_report.json``, the report the shipped weights were made with (through ``refresh_cards``, which refuses a card
whose recipe is not the report's), the voice profile from the corpus's
features, which the fold cache usually holds already:

    python scripts/refresh_card_data.py [--cache-dir reports/fold-cache] [--weights weights]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deceptio.cli import _DATA_ABOUT, _DATA_NAME
from deceptio.modeling.card import ModelInput, available_cards
from deceptio.paths import REPO, default_cache_dir, default_manifest
from deceptio.training.data import extract_dataset, load_dataset
from deceptio.training.release import refresh_cards, training_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "nested" / "cv_report.json")
    args = parser.parse_args(argv)
    if not default_manifest().is_file():
        print(f"no corpus at {default_manifest()}", file=sys.stderr)
        return 1
    report = json.loads(args.report.read_text())
    # A report written before the window settings moved from the training to the input settings.
    protocol = report["protocol"]
    window = {key: protocol["train_config"].pop(key) for key in ("window_frames", "hop_frames") if key in protocol["train_config"]}
    if window:
        protocol.setdefault("input_config", {}).setdefault("window", window)
    inputs = ModelInput()
    data = extract_dataset(load_dataset(default_manifest()), feature_config=inputs.features, vad_config=inputs.vad,
                           cache_dir=args.cache_dir)
    block = training_data(data, _DATA_NAME, report, feature_config=inputs.features, about=_DATA_ABOUT)
    names = tuple(available_cards(args.weights))
    for path in refresh_cards(report, args.weights, variants=names, data_block=block):
        print(f"{path.name}: figures and training_data rewritten ({block['n_clips']} clips, profile of {len(block['profile']) - 1} numbers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
