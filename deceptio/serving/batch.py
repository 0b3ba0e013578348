"""Scores many recordings into one CSV, one Detector per worker process, a row at a time so a run resumes."""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from deceptio.audio import AUDIO_SUFFIXES, AudioConfig
from deceptio.errors import DeceptioError, ParameterError

__all__ = ["CSV_FIELDS", "WORKER_DIED", "ResultsCSV", "expand_inputs", "score_files"]

CSV_FIELDS = ("file", "verdict", "p_deceptive", "variant", "duration_s", "speech_s", "windows", "error")
WORKER_DIED = "its worker died"  # how an error row that was no refusal begins: a resumed run scores it again
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


class ResultsCSV:
    """The batch's CSV: rows appended (and flushed) as recordings finish, so a run that stops resumes where it was.

    A recording whose file already has a row is not scored again, a refusal
    included (delete its row to try again); only a row whose worker died
    (:data:`WORKER_DIED`) is retried. Rows are matched by the ``file`` column as given. On
    :meth:`finish` the file is rewritten whole, one row per recording, in
    the input's order (rows of files that are not in this input follow, as
    they were), so the result does not depend on which worker finished first.

    Parameters
    ----------
    path : Path
        The CSV; made if missing. One of another layout, or with rows of
        another variant, is refused rather than mixed into.
    files : list of Path
        This run's recordings (a file listed twice gets one row).
    variant : str
        The variant this run scores.
    """

    def __init__(self, path: Path, files: list[Path], *, variant: str) -> None:
        self.path = Path(path)
        self.files = list(dict.fromkeys(str(f) for f in files))
        self.rows: dict[str, dict] = {}
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if tuple(reader.fieldnames or ()) != CSV_FIELDS:
                    raise ParameterError(f"{self.path} is not a deceptio batch CSV (its columns are {reader.fieldnames}, "
                                         f"not {list(CSV_FIELDS)}): pass another --csv")
                for row in reader:
                    if not row.get("file") or None in row.values() or None in row:
                        continue  # a line cut short by a run that was killed while writing it
                    if row["error"].startswith(WORKER_DIED):
                        continue  # not the recording's fault: score it again
                    if row["variant"] and row["variant"] != variant:
                        raise ParameterError(f"{self.path} holds rows of variant {row['variant']!r} and this run scores "
                                             f"{variant!r}: pass another --csv")
                    self.rows[row["file"]] = row
        self.skipped = sum(name in self.rows for name in self.files)
        self.todo = [Path(name) for name in self.files if name not in self.rows]
        self._handle = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite(list(self.rows.values()))  # drops rows to redo and any half-written last line
        self._handle = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=CSV_FIELDS)
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def add(self, row: dict) -> None:
        """Append one recording's row, flushed: a run killed after this keeps it."""
        self._writer.writerow(row)
        self._handle.flush()
        self.rows[row["file"]] = {key: str(row.get(key, "")) for key in CSV_FIELDS}

    def finish(self) -> int:
        """Rewrite the CSV in the input's order; returns how many of this input's recordings failed."""
        self.__exit__()
        ordered = [self.rows[name] for name in self.files if name in self.rows]
        inputs = set(self.files)
        self._rewrite(ordered + [row for name, row in self.rows.items() if name not in inputs])
        return sum(bool(self.rows[name]["error"]) for name in self.files if name in self.rows)

    def _rewrite(self, rows: list[dict]) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        partial.replace(self.path)  # whole or not at all


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
        "p_deceptive": f"{analysis.p_deceptive:.8f}",
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
    analysed gets its message in the ``error`` column; the rest go on. Rows
    are written as they come, and files that already have a row in
    ``out_csv`` are skipped (see :class:`ResultsCSV`): run it again after
    an interruption and it finishes the job.
    ``deceptio.distributed.score_files_on_ray`` does the same on a Ray cluster, into the same CSV.
    """
    from tqdm.auto import tqdm  # the command line's progress bar; scoring itself needs no tqdm

    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ParameterError(f"workers={workers} must be >= 1")
    threads = max(1, (os.cpu_count() or 1) // workers)
    results = ResultsCSV(out_csv, files, variant=variant)
    bar = tqdm(total=len(results.files), initial=results.skipped, desc="analyze", unit="file", disable=not progress)
    with results:
        pool = None
        if not results.todo:
            rows = iter(())
        elif workers == 1:
            _init(str(weights), variant, audio_config, threads)
            rows = map(_score, results.todo)
        else:
            pool = ProcessPoolExecutor(workers, initializer=_init, initargs=(str(weights), variant, audio_config, threads))
            rows = pool.map(_score, results.todo)
        try:
            for row in rows:
                results.add(row)
                bar.update()
        finally:
            if pool is not None:
                pool.shutdown()
            bar.close()
    return results.finish()
