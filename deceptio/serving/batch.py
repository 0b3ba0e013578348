"""Scores many recordings into one CSV, one Detector per worker process."""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from deceptio.audio import AUDIO_SUFFIXES, AudioConfig
from deceptio.errors import DeceptioError, ParameterError

__all__ = ["expand_inputs", "score_files", "CSV_FIELDS"]

CSV_FIELDS = ("file", "verdict", "p_deceptive", "variant", "duration_s", "speech_s", "windows", "error")
_worker: dict = {}


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given, and the audio files inside any directory (recursively, sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not found:
                raise ParameterError(f"{path} holds no wav, flac, ogg or mp3 files")
            files.extend(found)
        else:
            files.append(path)
    return files


def _init(weights: str, variant: str, audio_config: AudioConfig, threads: int) -> None:
    from deceptio.runtime import tune_allocator
    from deceptio.serving.detector import Detector

    tune_allocator()
    _worker["detector"] = Detector(weights, variants=(variant,), audio_config=audio_config, threads=threads)
    _worker["variant"] = variant


def _score(path: Path) -> dict:
    try:
        analysis = _worker["detector"].analyze(path, variant=_worker["variant"])
    except DeceptioError as error:
        return {"file": str(path), "error": str(error)}
    return {
        "file": str(path),
        "verdict": analysis.verdict,
        "p_deceptive": f"{analysis.p_deceptive:.4f}",
        "variant": analysis.variant,
        "duration_s": f"{analysis.duration_s:.2f}",
        "speech_s": f"{analysis.speech_s:.2f}",
        "windows": len(analysis.windows),
        "error": "",
    }


def score_files(
    files: list[Path],
    out_csv: Path,
    *,
    weights: str | Path,
    variant: str = "ensemble",
    audio_config: AudioConfig = AudioConfig(),
    workers: int | None = None,
    progress: bool = True,
) -> int:
    """Analyse ``files`` and write one CSV row each (in input order); returns how many failed.

    Each worker process loads the weights once and runs ONNX Runtime on its share of the cores,
    so ``workers`` processes use ``workers`` cores. A file that cannot be
    analysed gets its message in the ``error`` column; the rest go on.
    """
    from tqdm.auto import tqdm  # the command line's progress bar; scoring itself needs no tqdm

    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ParameterError(f"workers={workers} must be >= 1")
    threads = max(1, (os.cpu_count() or 1) // workers)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(files), desc="analyze", unit="file", disable=not progress)
    failed = 0
    with open(out_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        if workers == 1:
            _init(str(weights), variant, audio_config, threads)
            rows = map(_score, files)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers, initializer=_init, initargs=(str(weights), variant, audio_config, threads))
            rows = pool.map(_score, files)
        try:
            for row in rows:
                failed += bool(row.get("error"))
                writer.writerow(row)
                bar.update()
        finally:
            if pool is not None:
                pool.shutdown()
            bar.close()
    return failed
