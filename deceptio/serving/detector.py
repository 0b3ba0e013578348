"""The Detector: loads shipped variants once and turns a recording into an honest verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deceptio.audio import AudioConfig, Recording, prepare
from deceptio.errors import ParameterError, UnknownVariantError, WeightsError
from deceptio.features import FeatureConfig, check_threads, compute_features
from deceptio.modeling.card import Calibration, ModelInput, available_cards, calibration_of, checked_onnx_path, load_card
from deceptio.modeling.images import feature_images, stack_images
from deceptio.modeling.saliency import image_saliency
from deceptio.modeling.scoring import VERDICTS, sigmoid, verdict_for, window_logits, window_outputs
from deceptio.modeling.variants import ENSEMBLE
from deceptio.paths import DEFAULT_WEIGHTS
from deceptio.serving.onnx import OnnxNetwork

if TYPE_CHECKING:
    from deceptio.serving.compare import Comparison

__all__ = ["Detector", "Analysis", "WindowPrediction", "FrameScore", "VERDICTS", "verdict_for"]


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
    model: OnnxNetwork
    input: ModelInput
    calibration: Calibration


@dataclass(frozen=True)
class PreparedFeatures:
    """A recording's features, computed once, with the settings they were computed with."""

    recording: Recording
    features: dict[str, np.ndarray]
    config: FeatureConfig

    @property
    def nbytes(self) -> int:
        return int(self.recording.samples.nbytes + sum(value.nbytes for value in self.features.values()))


class Detector:
    """Analyses recordings with the variants found in a weights folder.

    Cards and weights are read once, at construction; each analysis computes
    the features once and shares them between the variants. Everything that
    shapes a model's input (features, speech detector, images, windows) and
    its calibration comes from its card (:class:`~deceptio.modeling.card.ModelInput`);
    the caller sets only the limits on what it accepts.

    Parameters
    ----------
    weights : path
        Folder with ``<variant>.onnx`` graphs and ``<variant>.json`` cards.
    variants : tuple of str, optional
        Load only these (an ensemble brings its members); all cards by default.
    audio_config : AudioConfig
        The caller's limits on incoming audio (duration, size, rates, least speech).
    threads : int, optional
        Threads for the feature analyses (see :func:`~deceptio.features.compute_features`);
        the cores this process may use by default.
    """

    def __init__(self, weights: str | Path = DEFAULT_WEIGHTS, *, variants: tuple[str, ...] | None = None,
                 audio_config: AudioConfig = AudioConfig(), threads: int | None = None) -> None:
        self.weights = Path(weights)
        if not self.weights.is_dir():
            raise WeightsError(f"weights folder {self.weights} does not exist")
        available = available_cards(self.weights)
        names = available if variants is None else list(variants)
        if not names:
            raise WeightsError(f"no model cards in {self.weights}")
        unknown = [name for name in names if name not in available]
        if unknown:  # before anything loads; the cards, not a registry in code, say what a folder serves
            raise UnknownVariantError(f"no card for variant {unknown[0]!r} in {self.weights}; "
                                      f"it has: {', '.join(available) or 'none'}")
        check_threads(threads)
        self.audio_config = audio_config
        self.threads = threads
        self.cards: dict[str, dict] = {name: load_card(self.weights, name) for name in names}
        for name in names:
            for member in self.cards[name].get("members", []):
                if member not in self.cards:
                    self.cards[member] = load_card(self.weights, member)
        self._calibrations = {name: calibration_of(card) for name, card in self.cards.items()}  # the ensemble's too: its band
        self._models: dict[str, _Loaded] = {}
        for name, card in self.cards.items():
            if card.get("members"):
                continue
            model_input = ModelInput.from_card(card)
            network = OnnxNetwork(checked_onnx_path(self.weights, card), threads=threads)
            rows = sum(model_input.rows().values())
            if isinstance(network.rows, int) and network.rows != rows:
                raise WeightsError(f"{name}.onnx reads images of {network.rows} rows; its card's input has {rows}")
            self._models[name] = _Loaded(card=card, model=network, input=model_input, calibration=self._calibrations[name])
        first = next(iter(self._models.values()), None)
        if first is None:
            raise WeightsError(f"no model weights among the cards in {self.weights}")
        if not all(first.input.same_recording_pass(m.input) for m in self._models.values()):
            raise WeightsError("the loaded variants use different feature, speech-detector or image settings; "
                               "load them separately")

    @property
    def variants(self) -> list[str]:
        """Names that :meth:`analyze` accepts, the ensemble (if loaded) first."""
        return sorted(self.cards, key=lambda name: (name != ENSEMBLE, name))

    def card(self, variant: str) -> dict:
        if variant not in self.cards:
            raise UnknownVariantError(f"variant {variant!r} is not loaded; loaded: {', '.join(self.variants)}")
        return self.cards[variant]

    @property
    def input(self) -> ModelInput:
        """The input settings the loaded models share (the first model's layout)."""
        return next(iter(self._models.values())).input

    def model_input(self, variant: str) -> ModelInput:
        """What ``variant``'s network reads, from its card.

        An ensemble's: the settings and layout of the member whose windows its
        timeline shows (the one with the shortest hop, see :meth:`score_frames`).
        """
        return _timeline_member(self._member_models(variant)).input

    @property
    def feature_config(self) -> FeatureConfig:
        return self.input.features

    def calibration(self, variant: str) -> Calibration:
        """The card's calibration of ``variant`` (an ensemble's: its inconclusive band)."""
        self.card(variant)  # an unknown name says which are loaded
        return self._calibrations[variant]

    def analyze(self, source, *, variant: str = ENSEMBLE, band: float | None = None, name: str | None = None) -> Analysis:
        """Analyse a recording (path, bytes or ``(rate, array)``) with one variant or the ensemble.

        Raises
        ------
        AudioError
            The recording is unreadable, empty, silent, too short or too long.
        UnknownVariantError
            ``variant`` is not loaded.
        """
        band = self.calibration(variant).inconclusive_band if band is None else band
        if not 0.0 <= band < 0.5:
            raise ParameterError(f"band={band} must be in [0, 0.5)")
        recording = self.prepare(source, name=name)
        return self.analyze_recording(recording, variant=variant, band=band)

    def prepare(self, source, *, name: str | None = None) -> Recording:
        """Load a recording within the caller's limits and find its speech as the cards' VAD does.

        Raises
        ------
        AudioError
            The recording is unreadable, empty, silent, too short or too long.
        """
        settings = self.input
        return prepare(source, config=self.audio_config, vad=settings.vad, sample_rate=settings.features.sample_rate,
                       hop_length=settings.features.hop_length, name=name)

    def prepare_features(self, recording: Recording, *, variant: str = ENSEMBLE) -> PreparedFeatures:
        """The features ``variant``'s models read, of an already prepared recording, for :meth:`analyze_recording`."""
        config = self._member_models(variant)[0].input.features
        if (recording.sample_rate, recording.hop_length) != (config.sample_rate, config.hop_length):
            raise ParameterError(f"the recording is at {recording.sample_rate} Hz with a hop of {recording.hop_length}; "
                                 f"the models read {config.sample_rate} Hz with a hop of {config.hop_length} (use Detector.prepare)")
        return PreparedFeatures(recording, compute_features(recording.samples, config=config, threads=self.threads), config)

    def analyze_recording(self, recording: Recording, *, variant: str, band: float,
                          prepared: PreparedFeatures | None = None) -> Analysis:
        """Analyse an already loaded and checked :class:`~deceptio.audio.Recording`.

        ``prepared`` (from :meth:`prepare_features` of the same recording)
        skips recomputing the features when ``variant`` reads the ones it holds:
        another variant of one recording is then a rescoring only.
        """
        settings = self._member_models(variant)[0].input
        config = settings.features
        if prepared is None or prepared.recording is not recording or prepared.config != config:
            prepared = self.prepare_features(recording, variant=variant)
        features = prepared.features
        frames = np.flatnonzero(recording.speech)
        score = self.score_frames(features, frames, variant=variant)
        window = score.window_frames
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

    def compare(self, baseline, statement, *, variant: str = ENSEMBLE) -> Comparison:
        """A statement against the same speaker's baseline recording (one they state is true), by one variant.

        Both are analysed as :meth:`analyze` would; the result holds both
        analyses, the difference of p(deceptive), the deltas of plain features
        (median pitch and its range, voiced and pause shares, spectral tilt,
        level) and the card's within-speaker AUC, which says how much such a
        difference has meant on held-out speakers.
        """
        from deceptio.features.profile import voice_profile
        from deceptio.serving.compare import compare_analyses

        analyses = [self.analyze(source, variant=variant) for source in (baseline, statement)]
        config = self.model_input(variant).features
        profiles = [voice_profile(a.features, a.speech, config=config) for a in analyses]
        return compare_analyses(*analyses, *profiles, self.card(variant))

    def saliency(self, analysis: Analysis) -> dict[str, np.ndarray]:
        """Class activation maps over the images each variant of ``analysis`` read (see :meth:`saliency_maps`)."""
        return self.saliency_maps(analysis.images, variant=analysis.variant)

    def saliency_maps(self, images: dict[str, np.ndarray], *, variant: str) -> dict[str, np.ndarray]:
        """Class activation maps of ``variant`` over normalised feature ``images`` (as :meth:`score_frames` returns them).

        Returns, per model variant (the ensemble's members for the ensemble),
        an array shaped like that variant's stacked input image
        ``(rows, frames)``, in logit units: positive where a region raised
        p(deceptive), negative where it lowered it. Forward passes only: the
        networks are ONNX graphs, never differentiated.
        """
        maps = {}
        for loaded in self._member_models(variant):
            name = loaded.card["variant"]
            image = stack_images(images, loaded.input.layout)
            window, hop = loaded.input.window.scoring(image.shape[1])
            maps[name] = image_saliency(loaded.model, image, window=window, hop=hop)
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
        settings = members[0].input
        needed = tuple(dict.fromkeys(image for m in members for image in m.input.layout))
        images = feature_images(features, frames, needed, config=settings.images, sample_rate=settings.features.sample_rate)
        # Members may cut windows of different lengths: the timeline shows the windows of the member with the
        # shortest hop, and each other member adds, to each of them, its own window whose centre is nearest.
        n = frames.size
        parts = {m.card["variant"]: _member_timeline(m, [images[part] for part in m.input.layout], n) for m in members}
        member_p = {name: part.p for name, part in parts.items()}
        shown = parts[_timeline_member(members).card["variant"]]
        timeline = [part.window_p if part is shown else part.window_p[_nearest(part.centres, shown.centres)]
                    for part in parts.values()]
        return FrameScore(
            p=float(np.mean(list(member_p.values()))),
            members=member_p,
            window_p=np.mean(timeline, axis=0),
            starts=shown.starts,
            images=images,
            window_frames=shown.width,
        )


@dataclass(frozen=True)
class _MemberTimeline:
    p: float  # calibrated p(deceptive) of the recording
    starts: np.ndarray  # first frame of each timeline stretch
    width: int  # frames of each stretch
    window_p: np.ndarray  # calibrated p(deceptive) of each stretch

    @property
    def centres(self) -> np.ndarray:
        return self.starts + self.width / 2.0


def _member_timeline(loaded: _Loaded, parts: list[np.ndarray], n: int) -> _MemberTimeline:
    """One model's score of ``n`` frames and its timeline.

    A window model: p of each window. A whole-recording model (one window,
    attention over time): each last-stage time cell's share of the one logit,
    ``mean over rows of its cam + bias``, whose mean over the cells is the
    recording's logit exactly (see :meth:`~deceptio.modeling.models.SlimResNet.forward_cam`).
    """
    settings = loaded.input.window
    window, hop = settings.scoring(n)
    temperature = loaded.calibration.temperature
    if not settings.whole:
        logits, starts = window_logits(loaded.model, parts, window=window, hop=hop)
        return _MemberTimeline(float(sigmoid(logits.mean() / temperature)), starts, min(window, n),
                               sigmoid(logits / temperature))
    [(_, logits, cams)] = list(window_outputs(loaded.model, parts, window=window, hop=hop))
    columns = cams[0].astype(np.float64).mean(axis=0)
    cell_logits = columns + (float(logits[0]) - float(columns.mean()))
    per_cell = window / columns.size
    starts = np.floor(np.arange(columns.size) * per_cell).astype(np.int64)
    inside = starts < n  # a short recording was wrapped to the training crop: its repeats are not shown twice
    return _MemberTimeline(float(sigmoid(logits[0] / temperature)), starts[inside], max(1, int(round(per_cell))),
                           sigmoid(cell_logits[inside] / temperature))


@dataclass(frozen=True)
class FrameScore:
    """Scores of one stretch of frames: overall, per member variant, per window."""

    p: float
    members: dict[str, float]
    window_p: np.ndarray
    starts: np.ndarray  # first frame of each window, as an index into the scored frames
    images: dict[str, np.ndarray]  # the normalised feature images the models read
    window_frames: int  # the length of the windows of ``window_p`` (a whole-recording model's: of its time cells)


def _timeline_member(members: list["_Loaded"]) -> "_Loaded":
    """The member whose windows a timeline shows: the shortest hop (then window), the first of equals; a
    whole-recording model's time cells are shorter than any window."""
    return min(members, key=lambda m: (not m.input.window.whole, m.input.window.hop_frames, m.input.window.window_frames))


def _nearest(centres: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each of ``targets``, the index of the nearest of the sorted ``centres`` (the earlier of two as near)."""
    right = np.clip(np.searchsorted(centres, targets), 1, max(centres.size - 1, 1))
    left = right - 1
    if centres.size == 1:
        return np.zeros(targets.size, dtype=np.int64)
    return np.where(targets - centres[left] <= centres[right] - targets, left, right)
