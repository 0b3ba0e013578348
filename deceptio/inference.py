"""The Detector: loads shipped variants once and turns a recording into an honest verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deceptio.audio import AudioConfig, Recording, prepare
from deceptio.errors import ParameterError, UnknownVariantError, WeightsError
from deceptio.features import FeatureConfig, check_threads, compute_features
from deceptio.images import feature_images, stack_images
from deceptio.metrics import sigmoid
from deceptio.models import SlimResNet, fuse_for_inference
from deceptio.saliency import image_saliency
from deceptio.train import TrainConfig, window_logits
from deceptio.variants import ENSEMBLE, get_variant
from deceptio.weights import DEFAULT_WEIGHTS, available_cards, load_card, load_model

__all__ = ["Detector", "Analysis", "WindowPrediction", "verdict_for"]

VERDICTS = ("truthful", "deceptive", "inconclusive")


def verdict_for(p_deceptive: float, band: float) -> str:
    """``deceptive`` / ``truthful`` outside ``0.5 ± band``, else ``inconclusive``."""
    if p_deceptive >= 0.5 + band:
        return "deceptive"
    if p_deceptive <= 0.5 - band:
        return "truthful"
    return "inconclusive"


@dataclass(frozen=True)
class WindowPrediction:
    """One analysis window: where it lies in the recording (seconds) and its calibrated p(deceptive)."""

    start: float
    end: float
    p_deceptive: float


@dataclass(frozen=True)
class Analysis:
    """The result of analysing one recording with one variant (or the ensemble)."""

    verdict: str
    p_deceptive: float
    variant: str
    windows: tuple[WindowPrediction, ...]
    band: float
    duration_s: float
    speech_s: float
    members: dict[str, float] = field(default_factory=dict)  # per-variant p for the ensemble
    features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # whole-recording arrays, for plots
    speech: np.ndarray | None = field(default=None, repr=False)  # VAD frame mask
    frames: np.ndarray | None = field(default=None, repr=False)  # indices of the frames the models read
    images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # normalised images over `frames`

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "p_deceptive": round(self.p_deceptive, 4),
            "variant": self.variant,
            "windows": [{"start": round(w.start, 2), "end": round(w.end, 2), "p_deceptive": round(w.p_deceptive, 4)} for w in self.windows],
            "inconclusive_band": self.band,
            "duration_s": round(self.duration_s, 2),
            "speech_s": round(self.speech_s, 2),
            **({"members": {k: round(v, 4) for k, v in self.members.items()}} if self.members else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class _Loaded:
    card: dict
    model: SlimResNet
    feature_config: FeatureConfig
    train_config: TrainConfig


class Detector:
    """Analyses recordings with the variants found in a weights folder.

    Cards and weights are read once, at construction; each analysis computes
    the features once and shares them between the variants.

    Parameters
    ----------
    weights : path
        Folder with ``<variant>.safetensors`` and ``<variant>.json``.
    variants : tuple of str, optional
        Load only these (an ensemble brings its members); all cards by default.
    audio_config : AudioConfig
        Limits for incoming audio (duration cap, minimum speech).
    threads : int, optional
        Threads for the feature analyses (see :func:`~deceptio.features.compute_features`);
        the cores this process may use by default.
    """

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, *, variants: tuple[str, ...] | None = None,
                 audio_config: AudioConfig = AudioConfig(), threads: int | None = None) -> None:
        self.weights = Path(weights)
        if not self.weights.is_dir():
            raise WeightsError(f"weights folder {self.weights} does not exist")
        names = available_cards(self.weights) if variants is None else list(variants)
        if not names:
            raise WeightsError(f"no model cards in {self.weights}")
        for name in names:
            get_variant(name)  # unknown names fail before anything loads
        check_threads(threads)
        self.audio_config = audio_config
        self.threads = threads
        self.cards: dict[str, dict] = {name: load_card(self.weights, name) for name in names}
        for name in names:
            for member in self.cards[name].get("members", []):
                if member not in self.cards:
                    self.cards[member] = load_card(self.weights, member)
        self._models: dict[str, _Loaded] = {}
        for name, card in self.cards.items():
            if card.get("members"):
                continue
            self._models[name] = _Loaded(
                card=card,
                model=fuse_for_inference(load_model(self.weights, card)),
                feature_config=FeatureConfig.from_dict(card["feature_config"]),
                train_config=TrainConfig.from_dict(card["train_config"]),
            )
        grids = {(m.feature_config, m.train_config.window_frames, m.train_config.hop_frames) for m in self._models.values()}
        if len(grids) > 1:
            raise WeightsError("the loaded variants use different feature settings or windows; load them separately")

    @property
    def variants(self) -> list[str]:
        """Names that :meth:`analyze` accepts, the ensemble (if loaded) first."""
        return sorted(self.cards, key=lambda name: (name != ENSEMBLE, name))

    def card(self, variant: str) -> dict:
        if variant not in self.cards:
            raise UnknownVariantError(f"variant {variant!r} is not loaded; loaded: {', '.join(self.variants)}")
        return self.cards[variant]

    @property
    def feature_config(self) -> FeatureConfig:
        return next(iter(self._models.values())).feature_config

    def analyze(self, source, *, variant: str = ENSEMBLE, band: float | None = None, name: str | None = None) -> Analysis:
        """Analyse a recording (path, bytes or ``(rate, array)``) with one variant or the ensemble.

        Raises
        ------
        AudioError
            The recording is unreadable, empty, silent, too short or too long.
        UnknownVariantError
            ``variant`` is not loaded.
        """
        card = self.card(variant)
        band = float(card.get("inconclusive_band", 0.1) if band is None else band)
        if not 0.0 <= band < 0.5:
            raise ParameterError(f"band={band} must be in [0, 0.5)")
        recording = prepare(source, config=self.audio_config, name=name)
        return self.analyze_recording(recording, variant=variant, band=band)

    def analyze_recording(self, recording: Recording, *, variant: str, band: float) -> Analysis:
        """Analyse an already loaded and checked :class:`~deceptio.audio.Recording`."""
        config = self._member_models(variant)[0].feature_config
        features = compute_features(recording.samples, config=config, threads=self.threads)
        frames = np.flatnonzero(recording.speech)
        score = self.score_frames(features, frames, variant=variant)
        window = self._member_models(variant)[0].train_config.window_frames
        hop_s = config.hop_length / config.sample_rate
        windows = tuple(
            WindowPrediction(
                start=float(frames[s] * hop_s),
                end=float((frames[min(s + window, frames.size) - 1] + 1) * hop_s),
                p_deceptive=float(pw),
            )
            for s, pw in zip(score.starts, score.window_p)
        )
        return Analysis(
            verdict=verdict_for(score.p, band),
            p_deceptive=score.p,
            variant=variant,
            windows=windows,
            band=band,
            duration_s=recording.duration_s,
            speech_s=recording.speech_s,
            members=score.members if self.card(variant).get("members") else {},
            features=features,
            speech=recording.speech,
            frames=frames,
            images=score.images,
        )

    def saliency(self, analysis: Analysis) -> dict[str, np.ndarray]:
        """Class activation maps over the images each variant of ``analysis`` read (see :meth:`saliency_maps`)."""
        return self.saliency_maps(analysis.images, variant=analysis.variant)

    def saliency_maps(self, images: dict[str, np.ndarray], *, variant: str) -> dict[str, np.ndarray]:
        """Class activation maps of ``variant`` over normalised feature ``images`` (as :meth:`score_frames` returns them).

        Returns, per model variant (the ensemble's members for the ensemble),
        an array shaped like that variant's stacked input image
        ``(rows, frames)``, in logit units: positive where a region raised
        p(deceptive), negative where it lowered it. Forward passes only: the
        scoring copies are never differentiated.
        """
        maps = {}
        for loaded in self._member_models(variant):
            name = loaded.card["variant"]
            image = stack_images(images, get_variant(name).images)
            maps[name] = image_saliency(loaded.model, image, window=loaded.train_config.window_frames,
                                        hop=loaded.train_config.hop_frames)
        return maps

    def _member_models(self, variant: str) -> list[_Loaded]:
        card = self.card(variant)
        return [self._models[m] for m in (card.get("members") or [variant])]

    def score_frames(self, features: dict[str, np.ndarray], frames: np.ndarray, *, variant: str) -> "FrameScore":
        """Calibrated p(deceptive) of the given frames of a recording's features.

        ``frames`` are the indices the model reads (speech, or a subject's
        turns); images are normalised over them.
        """
        members = self._member_models(variant)
        config = members[0].feature_config
        needed = tuple(dict.fromkeys(image for m in members for image in get_variant(m.card["variant"]).images))
        images = feature_images(features, frames, needed, sample_rate=config.sample_rate)
        window_p, member_p = [], {}
        with torch.inference_mode():
            for loaded in members:
                name = loaded.card["variant"]
                parts = [images[part] for part in get_variant(name).images]  # stacked window by window
                logits, starts = window_logits(loaded.model, parts, window=loaded.train_config.window_frames,
                                               hop=loaded.train_config.hop_frames)
                temperature = loaded.card["temperature"]
                member_p[name] = float(sigmoid(logits.mean() / temperature))
                window_p.append(sigmoid(logits / temperature))
        return FrameScore(
            p=float(np.mean(list(member_p.values()))),
            members=member_p,
            window_p=np.mean(window_p, axis=0),
            starts=starts,
            images=images,
        )


@dataclass(frozen=True)
class FrameScore:
    """Scores of one stretch of frames: overall, per member variant, per window."""

    p: float
    members: dict[str, float]
    window_p: np.ndarray
    starts: np.ndarray  # first frame of each window, as an index into the scored frames
    images: dict[str, np.ndarray]  # the normalised feature images the models read
