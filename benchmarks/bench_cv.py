"""Times one variant's full speaker-grouped cross-validation (5 folds × 5 repeats) with the features cached.

Features are extracted (or read from the usual cache) first and not timed;
every fold is then trained from scratch: the trained-fold cache points at an
empty temporary folder. The last line is one JSON object.

Usage::

    python benchmarks/bench_cv.py [--variant spec_prosody] [--folds 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


from deceptio.training.data import default_cache_dir, default_manifest, extract_dataset, load_dataset
from deceptio.training.cv import CVConfig, cross_validate
from deceptio.features import FeatureConfig
from deceptio.runtime import tune_allocator

DEFAULT_MANIFEST = default_manifest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--variant", default="spec_prosody", help="the largest image (143 rows) by default")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    tune_allocator()

    start = time.perf_counter()
    data = extract_dataset(load_dataset(args.data), feature_config=FeatureConfig(), cache_dir=default_cache_dir())
    features_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as empty_cache:
        start = time.perf_counter()
        report = cross_validate(data, variants=(args.variant,), cv=CVConfig(folds=args.folds, repeats=args.repeats),
                                cache_dir=Path(empty_cache))
        cv_s = time.perf_counter() - start
    fits = args.folds * args.repeats
    auc = report["methods"][args.variant]["metrics"]["auc"]
    print(f"{args.variant}: {fits} fits in {cv_s / 60:.1f} min ({cv_s / fits:.1f} s per fit) on {os.cpu_count()} cores; "
          f"features ready in {features_s:.0f} s; AUC {auc['mean']:.3f} ± {auc['std']:.3f}")
    print(json.dumps({"variant": args.variant, "fits": fits, "cv_minutes": round(cv_s / 60, 2),
                      "seconds_per_fit": round(cv_s / fits, 1), "auc_mean": round(auc["mean"], 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
