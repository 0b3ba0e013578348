"""Labelled recordings: manifests, speaker turns, and cached per-clip features."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from deceptio.audio import AUDIO_SUFFIXES, VADConfig, load_audio, speech_mask
from deceptio.errors import DataError, DeceptioError
from deceptio.paths import default_cache_dir, default_manifest  # noqa: F401  (re-exported for the benchmarks)
from deceptio.features import FeatureConfig, compute_features

__all__ = [
    "Clip",
    "ClipFeatures",
    "load_manifest",
    "manifest_from_folder",
    "load_dataset",
    "turn_masks",
    "extract_dataset",
    "default_cache_dir",
    "LABELS",
]

LABELS = ("truthful", "deceptive")  # index = class: 1 means deceptive
_LABEL_WORDS = {
    "deceptive": 1, "lie": 1, "lying": 1, "false": 1, "1": 1,
    "truthful": 0, "truth": 0, "true": 0, "0": 0,
}
_CACHE_VERSION = "2"  # 2: the VAD settings are their own config


@dataclass(frozen=True)
class Clip:
    """One labelled recording of a manifest."""

    id: str
    path: Path
    label: int  # 1 deceptive, 0 truthful
    speaker: str
    gender: str  # "F", "M" or "unknown"
    turns: Path | None = None  # CSV start,end,speaker,role,gender; only role=subject is labelled


def _parse_label(value: str, where: str) -> int:
    key = value.strip().lower()
    if key not in _LABEL_WORDS:
        raise DataError(f"{where}: label {value!r} is neither deceptive nor truthful")
    return _LABEL_WORDS[key]


def parse_gender(value: str | None) -> str:
    """``F``, ``M`` or ``unknown`` from what manifests write (F/female/W, M/male; any case)."""
    key = (value or "").strip().upper()
    return {"F": "F", "FEMALE": "F", "W": "F", "M": "M", "MALE": "M"}.get(key, "unknown")


def load_manifest(path: str | os.PathLike) -> list[Clip]:
    """Read a CSV manifest with columns ``path,label[,speaker,gender,turns]``.

    Paths are relative to the manifest's folder. A clip without a speaker is
    its own speaker (cross-validation then cannot keep a person's clips
    together: give speakers where you know them).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest {path} does not exist")
    root = path.parent
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "label"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"manifest {path} lacks the column(s) {sorted(missing)}; it has {reader.fieldnames}")
        clips = []
        for row_number, row in enumerate(reader, start=2):
            where = f"{path.name} line {row_number}"
            audio = root / row["path"]
            if not audio.is_file():
                raise DataError(f"{where}: audio file {audio} does not exist")
            turns = row.get("turns") or None
            clips.append(
                Clip(
                    id=audio.stem,
                    path=audio,
                    label=_parse_label(row["label"], where),
                    speaker=(row.get("speaker") or "").strip() or audio.stem,
                    gender=parse_gender(row.get("gender")),
                    turns=root / turns if turns else None,
                )
            )
    if not clips:
        raise DataError(f"manifest {path} lists no clips")
    ids = [clip.id for clip in clips]
    if len(set(ids)) != len(ids):
        raise DataError(f"manifest {path} lists the same file name twice")
    return clips


def manifest_from_folder(folder: str | os.PathLike) -> list[Clip]:
    """Clips from ``folder/<label>/[<speaker>/]*.wav`` with label deceptive|truthful (or lie|truth)."""
    folder = Path(folder)
    clips = []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = _parse_label(label_dir.name, str(label_dir))
        for audio in sorted(label_dir.rglob("*")):
            if audio.suffix.lower() in AUDIO_SUFFIXES:
                speaker = audio.parent.name if audio.parent != label_dir else audio.stem
                clips.append(Clip(id=audio.stem, path=audio, label=label, speaker=speaker, gender="unknown"))
    if not clips:
        raise DataError(f"no recordings found under {folder}/deceptive and {folder}/truthful")
    return clips


def load_dataset(path: str | os.PathLike) -> list[Clip]:
    """A manifest CSV or a folder of labelled sub-folders."""
    path = Path(path)
    return manifest_from_folder(path) if path.is_dir() else load_manifest(path)


def turn_masks(turns: Path | None, n_frames: int, *, hop_length: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame masks ``(subject, other)`` from a turns CSV.

    Without turns, or when no subject turn is annotated, the whole clip is the
    subject's.
    """
    subject = np.zeros(n_frames, dtype=bool)
    other = np.zeros(n_frames, dtype=bool)
    if turns is not None:
        with open(turns, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                start = int(round(float(row["start"]) * sample_rate / hop_length))
                end = int(round(float(row["end"]) * sample_rate / hop_length)) + 1
                target = subject if row.get("role", "subject").strip() == "subject" else other
                target[max(start, 0) : min(end, n_frames)] = True
    if not subject.any():
        subject[:] = True
        other[:] = False
    return subject, other & ~subject


@dataclass(frozen=True)
class ClipFeatures:
    """What training needs of one clip: its features and which frames to read."""

    clip: Clip
    features: dict[str, np.ndarray]
    speech: np.ndarray  # VAD
    subject: np.ndarray  # subject's turns
    other: np.ndarray  # other speakers' turns

    @property
    def subject_frames(self) -> np.ndarray:
        """Frames with the subject speaking; all subject frames if the VAD finds none."""
        frames = np.flatnonzero(self.subject & self.speech)
        return frames if frames.size else np.flatnonzero(self.subject)

    @property
    def other_frames(self) -> np.ndarray:
        return np.flatnonzero(self.other & self.speech)


def _cache_key(clip: Clip, feature_config: FeatureConfig, vad_config: VADConfig) -> str:
    stat = clip.path.stat()
    payload = json.dumps(
        [_CACHE_VERSION, str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns, feature_config.to_dict(), vad_config.to_dict()],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _extract(clip: Clip, feature_config: FeatureConfig, vad_config: VADConfig, cache_dir: Path | None) -> ClipFeatures:
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / "features" / f"{clip.id}-{_cache_key(clip, feature_config, vad_config)}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
            speech = arrays.pop("_speech")
            subject, other = turn_masks(clip.turns, speech.size, hop_length=feature_config.hop_length, sample_rate=feature_config.sample_rate)
            return ClipFeatures(clip, arrays, speech, subject, other)
    try:
        y = load_audio(clip.path, sample_rate=feature_config.sample_rate)
    except DeceptioError as error:
        raise DataError(f"{clip.path.name}: {error}") from error
    features = compute_features(y, config=feature_config)
    speech = speech_mask(y, vad_config, sample_rate=feature_config.sample_rate, hop_length=feature_config.hop_length)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, _speech=speech, **features)
        tmp.replace(cache_file)
    subject, other = turn_masks(clip.turns, speech.size, hop_length=feature_config.hop_length, sample_rate=feature_config.sample_rate)
    return ClipFeatures(clip, features, speech, subject, other)


def extract_dataset(
    clips: list[Clip],
    *,
    feature_config: FeatureConfig | None = None,
    vad_config: VADConfig | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[ClipFeatures]:
    """Features and speech masks of every clip, read from the cache where a previous run left them."""
    feature_config = feature_config or FeatureConfig()
    vad_config = vad_config or VADConfig()
    return [
        _extract(clip, feature_config, vad_config, cache_dir)
        for clip in tqdm(clips, desc="features", unit="clip", disable=not progress)
    ]
