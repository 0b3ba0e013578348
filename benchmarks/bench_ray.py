"""Batch scoring throughput on Ray against the local process pool, in the same run, and what Ray's own start-up costs.

``deceptio analyze FOLDER --csv OUT`` is timed end to end (a fresh command,
start-up included, a fresh CSV each time) with the local pool and with
``--ray`` (a local Ray of as many CPUs as workers), 1 and 2 workers, the four
interleaved within each run so that a busy machine slows them alike. Then a
small job (2 recordings) is timed both ways, and a bare ``ray.init`` +
``ray.shutdown``: Ray's fixed cost. Recordings are real courtroom speech when
the corpus is here (else synthetic), 44.1 kHz. Prints one JSON object a line.

Usage::

    python benchmarks/bench_ray.py [--recordings 24] [--minutes 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_analyze import REPO, build_recording

from deceptio.paths import DEFAULT_WEIGHTS

MODES = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))
ENV = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_USAGE_STATS_ENABLED": "0"}


def analyze_seconds(folder: Path, out: Path, *, weights: str, workers: int, ray: bool) -> float:
    """Seconds of one ``deceptio analyze FOLDER --csv OUT`` from nothing (the CSV removed first: no resume)."""
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "deceptio.cli", "analyze", str(folder), "--csv", str(out), "--weights", weights,
               "--workers", str(workers), *(["--ray"] if ray else [])]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, capture_output=True, env=ENV, timeout=900)
    return time.perf_counter() - start


def ray_init_seconds(cpus: int) -> float:
    """A fresh interpreter's ``ray_session()`` entered and left, timed inside it (Python's own start not counted)."""
    code = ("import time; from deceptio.distributed import ray_session\n"
            f"start = time.perf_counter()\nwith ray_session(num_cpus={cpus}): pass\nprint(time.perf_counter() - start)")
    done = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True, text=True, env=ENV,
                          timeout=300)
    return float(done.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=24, help="recordings in the timed batch")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each recording")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode; the median is reported")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    args = parser.parse_args(argv)

    print(json.dumps({"benchmark": "machine", "cpu": cpu_model(), "cores": os.cpu_count(),
                      "load_average_1min": round(os.getloadavg()[0], 2)}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        batch, small = root / "batch", root / "small"
        batch.mkdir()
        small.mkdir()
        for index in range(args.recordings):
            build_recording(args.minutes, batch, offset=index + 1)
        for index in range(2):
            build_recording(args.minutes, small, offset=100 + index)

        seconds: dict[tuple[str, int], list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.runs):
            for mode, workers in MODES:
                seconds[mode, workers].append(analyze_seconds(batch, root / "out.csv", weights=args.weights,
                                                              workers=workers, ray=mode == "ray"))
        for (mode, workers), times in seconds.items():
            median = statistics.median(times)
            print(json.dumps({"benchmark": "batch", "mode": mode, "workers": workers, "recordings": args.recordings,
                              "minutes_each": args.minutes, "seconds": [round(t, 2) for t in times],
                              "median_s": round(median, 2), "recordings_per_min": round(args.recordings / median * 60, 1)}),
                  flush=True)

        small_local = [analyze_seconds(small, root / "small.csv", weights=args.weights, workers=2, ray=False)
                       for _ in range(args.runs)]
        small_ray = [analyze_seconds(small, root / "small.csv", weights=args.weights, workers=2, ray=True)
                     for _ in range(args.runs)]
        init = [ray_init_seconds(2) for _ in range(args.runs)]
        print(json.dumps({"benchmark": "ray_overhead", "small_job_recordings": 2, "workers": 2,
                          "local_median_s": round(statistics.median(small_local), 2),
                          "ray_median_s": round(statistics.median(small_ray), 2),
                          "overhead_s": round(statistics.median(small_ray) - statistics.median(small_local), 2),
                          "ray_init_and_shutdown_s": round(statistics.median(init), 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
