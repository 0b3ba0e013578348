"""Rewrite the ``training_data`` block of the shipped cards from the corpus: counts, what the clips are, how they sound.

The weights and the cross-validated figures are untouched (the counts come from
``reports/cv_report.json``, the voice profile from the corpus's features, which
the fold cache usually holds already):

    python scripts/refresh_card_data.py [--cache-dir reports/fold-cache] [--weights weights]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deceptio.cli import _DATA_ABOUT, _DATA_NAME
from deceptio.modeling.card import ModelInput, available_cards, load_card, save_card
from deceptio.paths import REPO, default_cache_dir, default_manifest
from deceptio.training.data import extract_dataset, load_dataset
from deceptio.training.release import training_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "cv_report.json")
    args = parser.parse_args(argv)
    if not default_manifest().is_file():
        print(f"no corpus at {default_manifest()}", file=sys.stderr)
        return 1
    report = json.loads(args.report.read_text())
    inputs = ModelInput()
    data = extract_dataset(load_dataset(default_manifest()), feature_config=inputs.features, vad_config=inputs.vad,
                           cache_dir=args.cache_dir)
    block = training_data(data, _DATA_NAME, report, feature_config=inputs.features, about=_DATA_ABOUT)
    for name in available_cards(args.weights):
        card = load_card(args.weights, name)
        if "input" in card and ModelInput.from_card(card).features != inputs.features:
            print(f"{name}: its features are not the defaults; retrain instead", file=sys.stderr)
            return 1
        save_card({**card, "training_data": block}, args.weights)
        print(f"{name}: training_data rewritten ({block['n_clips']} clips, profile {sorted(block['profile'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
