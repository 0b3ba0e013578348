"""Does `deceptio train` finish, at several widths and thread settings, on this CPU?

`deceptio train` once hung for good (or corrupted memory) on AMD EPYC CPUs:
oneDNN's backward kernels on the BatchNorm-folded, channels-last scoring
copy of a width-4 model never returned. Run this on a machine before trusting
it with CI. Each run is a fresh process with a fresh cache (so every fit is
really trained) and a time limit; a run over it counts as a hang.

    python scripts/check_no_hang.py                      # widths 4 8 16, 3 runs each, OMP_NUM_THREADS unset and 1
    python scripts/check_no_hang.py --widths 4 --runs 1  # quicker

Prints one line per run and a summary; exits 1 if any run failed or hung.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deceptio.synthetic import synthetic_corpus

_MINIMAL = """
import time, torch
from deceptio.modeling.models import ModelConfig, as_network, create_model
from deceptio.training.gradcam import grad_cam
for i in range({loops}):
    start = time.perf_counter()
    torch.manual_seed(i)
    model = create_model(ModelConfig(width=4)).eval()
    as_network(model)(torch.randn(3, 1, 152, 400).numpy())  # the folded copy's logits and CAM, forward only
    grad_cam(model, torch.randn(3, 1, 152, 400))  # the training-side Grad-CAM, on the unfolded model
    print(f"minimal reproduction {{i + 1}}: {{time.perf_counter() - start:.2f}} s", flush=True)
"""


def _run(command: list[str], env: dict, limit: float) -> tuple[str, float, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return "HUNG", time.perf_counter() - start, f"no exit after {limit:.0f} s"
    seconds = time.perf_counter() - start
    tail = (done.stderr.strip().splitlines() or [""])[-1]
    return ("ok" if done.returncode == 0 else f"exit {done.returncode}"), seconds, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", nargs="+", default=["unset", "1"], help="OMP_NUM_THREADS settings ('unset' = not set)")
    parser.add_argument("--loops", type=int, default=20, help="runs of the minimal reproduction")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds before a run counts as hung")
    args = parser.parse_args(argv)

    failures = 0
    with tempfile.TemporaryDirectory(prefix="deceptio-no-hang-") as tmp:
        manifest = synthetic_corpus(Path(tmp) / "data")
        for threads in args.threads:
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
            if threads != "unset":
                env["OMP_NUM_THREADS"] = threads
            status, seconds, tail = _run([sys.executable, "-c", _MINIMAL.format(loops=args.loops)], env, args.limit)
            print(f"OMP_NUM_THREADS={threads:5s} minimal reproduction x{args.loops}: {status} in {seconds:.1f} s", flush=True)
            failures += status != "ok"
            for width in args.widths:
                for run in range(args.runs):
                    out = Path(tmp) / f"w{width}_t{threads}_r{run}"
                    command = [
                        sys.executable, "-m", "deceptio.cli", "train", "--data", str(manifest), "--out", str(out / "weights"),
                        "--folds", "2", "--repeats", "1", "--report-dir", str(out / "reports"), "--cache-dir", str(out / "cache"),
                        "--set", "train.epochs=1", f"model.width={width}",
                    ]
                    status, seconds, tail = _run(command, env, args.limit)
                    saliency = (out / "reports" / "saliency.png").is_file()
                    print(f"OMP_NUM_THREADS={threads:5s} width {width:2d} run {run + 1}: {status} in {seconds:.1f} s"
                          f"{'' if saliency else ' (no saliency figure)'}{'' if status == 'ok' else ' — ' + tail}", flush=True)
                    failures += status != "ok" or not saliency
    print(f"{failures} failed or hung")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
