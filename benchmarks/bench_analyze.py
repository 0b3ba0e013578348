"""Times a full analysis of a 5-minute 44.1 kHz story against a naive reference path, in one run.

Usage: python benchmarks/bench_analyze.py [--runs 5] [--naive-runs 3] [--weights weights]

The full analysis is what the page shows: every variant and the ensemble
(one ``Detector.analyze(..., variant="ensemble")`` scores all four and keeps
the feature arrays the plots draw). The naive path is what a first version
would do: librosa's pyin for F0, a Python loop of ``librosa.lpc`` per frame,
``numpy.roots`` per frame for LSF, and a full ResNet-18 per variant. The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


from deceptio.paths import default_corpus
from deceptio.paths import REPO
from deceptio.audio import load_audio, prepare
from deceptio.features import FeatureConfig, compute_features
from deceptio.modeling.images import cut_windows, feature_images, window_starts
from deceptio.serving.detector import Detector
from deceptio.runtime import tune_allocator
from deceptio.synthetic import synthetic_speech
from deceptio.modeling.variants import MODEL_VARIANTS, get_variant

CORPUS = default_corpus()
RATE = 44100


def build_recording(minutes: float, folder: Path, offset: int = 0) -> Path:
    """A ``minutes``-long 44.1 kHz WAV: real courtroom speech when the corpus is here, else synthetic.

    ``offset`` starts from another clip (or seed), so that a batch holds different recordings.
    """
    path = folder / (f"story_{minutes:g}min.wav" if not offset else f"story_{minutes:g}min_{offset}.wav")
    need = int(minutes * 60 * 16000)
    clips = sorted((CORPUS / "audio").glob("*.flac")) if CORPUS.is_dir() else []
    if clips:
        clips = clips[offset % len(clips):] + clips[: offset % len(clips)]
        pieces, total = [], 0
        while total < need:
            for clip in clips:
                y, _ = sf.read(clip, dtype="float32")
                pieces.append(y)
                total += y.size
                if total >= need:
                    break
        y16 = np.concatenate(pieces)[:need]
    else:
        y16 = synthetic_speech(minutes * 60, sample_rate=16000, seed=offset)
    sf.write(path, soxr.resample(y16, 16000, RATE), RATE, subtype="PCM_16")
    return path


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def naive_analysis(path: Path, models: dict) -> None:
    """The reference path: pyin, per-frame LPC, per-frame roots, ResNet-18s."""
    import librosa
    import torch

    y, sr = librosa.load(path, sr=16000)
    config = FeatureConfig()
    f0, voiced, _ = librosa.pyin(y, fmin=config.f0_min, fmax=config.f0_max, sr=sr, frame_length=config.f0_frame_length,
                                 hop_length=config.hop_length)
    padded = np.pad(y, config.lpc_frame_length // 2)
    n_frames = 1 + y.size // config.hop_length
    lpc = np.ones((config.lpc_order + 1, n_frames), dtype=np.float32)
    lsf = np.zeros((config.lpc_order, n_frames), dtype=np.float32)
    window = np.hamming(config.lpc_frame_length)
    for t in range(n_frames):
        frame = padded[t * config.hop_length : t * config.hop_length + config.lpc_frame_length]
        if frame.size < config.lpc_frame_length or not np.any(frame):
            continue
        a = librosa.lpc(frame * window, order=config.lpc_order)
        lpc[:, t] = a
        p = np.concatenate([a, [0]]) + np.concatenate([[0], a[::-1]])
        q = np.concatenate([a, [0]]) - np.concatenate([[0], a[::-1]])
        angles = np.angle(np.concatenate([np.roots(p), np.roots(q)]))
        lsf[:, t] = np.sort(angles[(angles > 1e-6) & (angles < np.pi - 1e-6)])[: config.lpc_order]
    features = compute_features(y, config=config)  # mel, MFCC, centroid, contrast as usual
    features.update(lpc=lpc[1:], lsf=lsf, f0=np.nan_to_num(f0).astype(np.float32), voiced=voiced)
    frames = np.arange(n_frames)
    images = feature_images(features, frames)
    with torch.inference_mode():
        for name, model in models.items():
            image = np.concatenate([images[i] for i in get_variant(name).images])
            starts = window_starts(image.shape[1], window=400, hop=200)
            windows = torch.from_numpy(cut_windows(image, starts, window=400)).unsqueeze(1)
            for i in range(0, len(windows), 64):
                model(windows[i : i + 64])


def resnet18_models() -> dict:
    import torch
    from torchvision.models import resnet18

    models = {}
    for name in MODEL_VARIANTS:
        model = resnet18(num_classes=1)
        model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        models[name] = model.eval()
    return models


def peak_rss_mb(path: Path, weights: str) -> float:
    """Peak resident memory of one fresh ``deceptio analyze`` of ``path`` (every variant and the ensemble).

    The child reports its own ``VmHWM`` (the high-water mark of its address
    space) as it exits. ``ru_maxrss`` would not do: Linux records the
    spawning process's high-water mark into the child at ``exec``, so a
    child of this benchmark (2 GB after the naive path) would report 2 GB
    whatever it used itself.
    """
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['deceptio', 'analyze', {str(path)!r}, '--weights', {weights!r}, '--json']\n"
        "try:\n"
        "    runpy.run_module('deceptio.cli', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return int(result.stderr.split()[-1]) / 1024  # kB


def cold_cli_seconds(path: Path, weights: str, runs: int) -> float:
    def once():
        subprocess.run([sys.executable, "-m", "deceptio.cli", "analyze", str(path), "--weights", weights, "--json"],
                       check=True, cwd=REPO, capture_output=True)

    return median_time(once, runs)


def batch_recordings_per_minute(folder: Path, weights: str, workers: int, runs: int) -> float:
    """Recordings per minute of ``deceptio analyze FOLDER --csv`` with ``workers`` processes, start-up included."""
    count = len(list(folder.glob("*.wav")))

    def once():
        (folder.parent / "batch.csv").unlink(missing_ok=True)  # a CSV left by the last run would be resumed: nothing to score
        subprocess.run([sys.executable, "-m", "deceptio.cli", "analyze", str(folder), "--csv", str(folder.parent / "batch.csv"),
                        "--weights", weights, "--workers", str(workers)], check=True, cwd=REPO, capture_output=True)

    return count / (median_time(once, runs) / 60)


def torch_import_seconds(runs: int) -> float | None:
    """Median of cold ``python -c "import torch"`` (the floor every torch-based command paid), or None without torch."""
    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0:
        return None
    return median_time(lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True, capture_output=True), runs)


def installed_mb(python: str) -> float:
    """Size on disk of the environment ``python`` runs in (its prefix: the venv), in MB."""
    prefix = Path(subprocess.run([python, "-c", "import sys; print(sys.prefix)"], check=True, capture_output=True,
                                 text=True).stdout.strip())
    return sum(f.stat().st_size for f in prefix.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def idle_server_rss_mb(path: Path, weights: str) -> float:
    """RSS of ``app.py`` after start-up and one analysis (what every later one reuses), as the load test measures it."""
    import socket
    import urllib.request

    from gradio_client import Client, handle_file

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port), "--weights", weights],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        Client(url, verbose=False, download_files=False).predict(handle_file(str(path)), "ensemble", api_name="/analyze")
        status = Path(f"/proc/{server.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
    finally:
        server.terminate()
        server.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--weights", default=str(REPO / "weights"))
    parser.add_argument("--batch-files", type=int, default=12, help="one-minute recordings for the batch throughput")
    parser.add_argument("--skip-15min", action="store_true", help="skip the 15-minute memory and scaling runs")
    parser.add_argument("--light-python", default=None,
                        help="the python of a venv with only requirements.txt (the serving set), to report its size")
    args = parser.parse_args(argv)
    tune_allocator()  # as the command line and the app do at start-up

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        five = build_recording(5, folder)
        detector = Detector(args.weights)
        analyse = lambda path: detector.analyze(path, variant="ensemble")  # noqa: E731
        analyse(five)  # warm-up: first-call allocations, thread pools
        median_s = median_time(lambda: analyse(five), args.runs)
        print(f"full analysis, 5 min at 44.1 kHz, all variants + ensemble: median {median_s:.3f} s over {args.runs} runs")
        parts = {
            "load + resample + VAD": lambda: prepare(five),
            "features": lambda: compute_features(load_audio(five)),
        }
        for label, fn in parts.items():
            print(f"  {label}: median {median_time(fn, 3):.3f} s")

        models = resnet18_models()
        naive_median_s = median_time(lambda: naive_analysis(five, models), args.naive_runs)
        print(f"naive path: median {naive_median_s:.1f} s over {args.naive_runs} runs; speedup {naive_median_s / median_s:.1f}x")

        cold = cold_cli_seconds(five, args.weights, 3)
        torch_import = torch_import_seconds(3)
        print(f"cold `deceptio analyze` on the 5-minute file: median {cold:.2f} s over 3 runs"
              + ("" if torch_import is None else f"; cold `python -c 'import torch'`: {torch_import:.2f} s ({cold / torch_import:.2f}x)"))
        idle_rss = idle_server_rss_mb(build_recording(1, folder, offset=99), args.weights)
        print(f"idle app server after one analysis: RSS {idle_rss:.0f} MB")

        batch_folder = folder / "batch"
        batch_folder.mkdir()
        for index in range(args.batch_files):
            build_recording(1, batch_folder, offset=index)
        batch = {workers: batch_recordings_per_minute(batch_folder, args.weights, workers, 2) for workers in (1, 2)}
        print(f"batch `deceptio analyze DIR --csv` of {args.batch_files} one-minute recordings: "
              + ", ".join(f"{w} worker(s) {rate:.1f} recordings/min" for w, rate in batch.items()))

        per_minute = []
        minutes_list = (1, 5) if args.skip_15min else (1, 5, 15)
        for minutes in minutes_list:
            path = five if minutes == 5 else build_recording(minutes, folder)
            if minutes != 5:
                analyse(path)  # warm-up at this length too, as the 5-minute figure had
            seconds = median_s if minutes == 5 else median_time(lambda p=path: analyse(p), args.runs)
            per_minute.append(round(seconds / minutes, 4))
            print(f"  {minutes:>2} min: {seconds:.2f} s ({seconds / minutes:.3f} s per minute)")
        peak = None if args.skip_15min else peak_rss_mb(folder / "story_15min.wav", args.weights)
        if peak is not None:
            print(f"peak RSS analysing 15 minutes in a fresh process: {peak:.0f} MB")

    sizes = {"full": round(installed_mb(sys.executable))}
    if args.light_python:
        sizes["serving"] = round(installed_mb(args.light_python))
    print("installed size: " + ", ".join(f"{k} {v} MB" for k, v in sizes.items()))
    print(json.dumps({
        "median_s": round(median_s, 4),
        "torch_import_s": None if torch_import is None else round(torch_import, 3),
        "idle_server_rss_mb": round(idle_rss, 1),
        "installed_mb": sizes,
        "naive_median_s": round(naive_median_s, 3),
        "speedup": round(naive_median_s / median_s, 2),
        "cold_cli_s": round(cold, 3),
        "peak_rss_mb_15min": None if peak is None else round(peak, 1),
        "seconds_per_minute": per_minute,
        "batch_recordings_per_minute": {str(w): round(rate, 1) for w, rate in batch.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
