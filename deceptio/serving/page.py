"""What the web page shows for one recording: verdict, probability, the card's honest figures, the plots.

``app.py`` only lays out the page and calls :func:`analyze_for_page`; every
word and figure the page shows about a result is made here, where it can be
tested without a browser.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from plotly.graph_objects import Figure

from deceptio.errors import AudioError
from deceptio.features.profile import VoiceProfile, voice_profile
from deceptio.modeling.variants import get_variant
from deceptio.serving import interactive, plots
from deceptio.serving.compare import FEATURE_LABELS, Comparison, compare_analyses, within_speaker_line
from deceptio.serving.detector import Analysis, Detector, PreparedFeatures
from deceptio.serving.figure_data import check_overlays, image_evidence
from deceptio.serving.wording import (
    CAVEAT,
    card_summary,
    limits_summary,
    variant_description,
    verdict_summary,
)

__all__ = [
    "CAVEAT",
    "ComparePageResult",
    "LiveRecording",
    "PageResult",
    "RecordingCache",
    "analyze_for_page",
    "card_summary",
    "compare_for_page",
    "comparison_markdown",
    "features_for_page",
    "limits_summary",
    "saliency_evidence",
    "variant_choices",
    "variant_description",
    "verdict_summary",
]

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PageResult:
    """Everything the page shows after one analysis."""

    analysis: Analysis
    verdict_markdown: str
    probabilities: dict[str, float]  # for gr.Label: class -> confidence, summing to 1
    card_markdown: str
    panels: tuple[str, ...]  # feature panels in the figure, top to bottom
    panels_markdown: str
    feature_figure: Figure  # Plotly, interactive
    timeline_figure: Figure
    profile: VoiceProfile | None = None  # plain numbers of the recording's speech


@dataclass(frozen=True)
class ComparePageResult:
    """Everything the compare tab shows: both recordings' results on matching scales and what the difference means."""

    comparison: Comparison
    markdown: str
    baseline: PageResult
    statement: PageResult


def variant_choices(detector: Detector) -> list[tuple[str, str]]:
    """``(label, name)`` pairs for a dropdown, the ensemble first: a readable name beside the code name."""
    return [(f"{get_variant(name).title} ({name})", name) for name in detector.variants]


@dataclass
class _Shown:
    """The analysis of a recording the page last drew, and its saliency once asked for (filled in then)."""

    variant: str
    analysis: Analysis
    evidence: dict[str, np.ndarray] | None = None  # per input image, per frame: see image_evidence

    @property
    def nbytes(self) -> int:  # the features are the cached recording's own arrays, not counted again
        arrays = list(self.analysis.images.values()) + list((self.evidence or {}).values())
        return int(sum(array.nbytes for array in arrays))


class RecordingCache:
    """The last few recordings' audio and features, so that another variant of one recording only rescores.

    Keyed by the visitor's session and the uploaded file (path, size,
    modification time), so one visitor never reuses another's; bounded by
    entries and bytes (the oldest go first), so many visitors cannot grow it.
    Only files are cached: bytes and arrays are analysed afresh. With each
    recording, the analysis last drawn of it is kept (one variant's), so that
    redrawing its figure with other overlays neither rescores nor recomputes.
    """

    def __init__(self, *, max_entries: int = 8, max_bytes: int = 512 * 2**20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[tuple, PreparedFeatures] = OrderedDict()
        self._shown: dict[tuple, _Shown] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(session: str, source) -> tuple | None:
        if not isinstance(source, (str, os.PathLike)):
            return None
        try:
            stat = os.stat(source)
        except OSError:
            return None
        return (session, os.fspath(source), stat.st_size, stat.st_mtime_ns)

    def get(self, key: tuple | None) -> PreparedFeatures | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple | None, prepared: PreparedFeatures) -> None:
        if key is None or prepared.nbytes > self.max_bytes:
            return
        with self._lock:
            self._items[key] = prepared
            self._items.move_to_end(key)
            self._shown.pop(key, None)  # drawn from the features this replaces
            self._evict()

    def _evict(self) -> None:
        while len(self._items) > self.max_entries or self._nbytes() > self.max_bytes:
            gone, _ = self._items.popitem(last=False)
            self._shown.pop(gone, None)

    def _nbytes(self) -> int:
        return sum(p.nbytes for p in self._items.values()) + sum(s.nbytes for s in self._shown.values())

    def shown(self, key: tuple | None, variant: str) -> _Shown | None:
        """The analysis by ``variant`` last drawn of the recording under ``key``, if it is still kept."""
        with self._lock:
            shown = self._shown.get(key)
            return shown if shown is not None and shown.variant == variant else None

    def forget_shown(self, session: str) -> None:
        """Let go of what ``session``'s page drew (its recording changed); the features stay."""
        with self._lock:
            for key in [key for key in self._shown if key[0] == session]:
                del self._shown[key]

    def keep_shown(self, key: tuple | None, shown: _Shown) -> None:
        """Keep ``shown`` with its recording (replacing the one drawn before), within the bounds."""
        with self._lock:
            if key not in self._items or self._items[key].nbytes + shown.nbytes > self.max_bytes:
                self._shown.pop(key, None)
                return
            self._shown[key] = shown
            self._items.move_to_end(key)
            self._evict()

    def __len__(self) -> int:
        return len(self._items)


def saliency_evidence(detector: Detector, analysis: Analysis) -> dict[str, np.ndarray]:
    """Per input image, its share of ``analysis``'s logit per frame of the recording, from :meth:`Detector.saliency`.

    Forward passes only (the class activation maps of the ONNX graphs); for
    the ensemble, its members' evidence averaged per image
    (:func:`~deceptio.serving.figure_data.image_evidence`).
    """
    maps = detector.saliency(analysis)
    return image_evidence(maps, {name: detector.model_input(name).rows() for name in maps}, frames=analysis.frames,
                          n_frames=analysis.speech.size,
                          scales={name: detector.calibration(name).temperature for name in maps})


def _feature_figure(detector: Detector, shown: _Shown, overlays: tuple[str, ...], report: Progress) -> Figure:
    if "saliency" in overlays and shown.evidence is None:
        report(0.6, "finding where the model's evidence came from")
        shown.evidence = saliency_evidence(detector, shown.analysis)
    report(0.7, "drawing the features")
    return interactive.feature_plot(shown.analysis, variant=shown.variant, config=detector.feature_config,
                                    overlays=overlays, saliency=shown.evidence if "saliency" in overlays else None)


def features_for_page(detector: Detector, source, variant: str, *, overlays=(), cache: RecordingCache,
                      session: str = "") -> Figure | None:
    """The feature figure of the analysis the page shows, redrawn with ``overlays``, from ``cache``.

    Nothing is rescored or recomputed: the analysis is the one
    :func:`analyze_for_page` last drew of this ``session``'s ``source`` by
    ``variant`` (its saliency is computed on first use, then kept). ``None``
    when there is none (no result on the page, or it was let go).

    Raises
    ------
    ParameterError
        For an unknown overlay.
    """
    overlays = check_overlays(overlays)
    shown = cache.shown(RecordingCache.key(session, source), variant)
    if shown is None:
        return None
    return _feature_figure(detector, shown, overlays, lambda fraction, description: None)


def analyze_for_page(detector: Detector, source, variant: str, *, progress: Progress | None = None,
                     name: str | None = None, cache: RecordingCache | None = None, session: str = "",
                     overlays=()) -> PageResult:
    """Analyse ``source`` with ``variant`` and build everything the page shows.

    Parameters
    ----------
    detector : Detector
        Loaded once per process.
    source : path, bytes or ``(rate, array)``
        What the audio component delivered.
    variant : str
        One of ``detector.variants``.
    progress : callable ``(fraction, description)``, optional
        Told where the work is.
    cache : RecordingCache, optional
        Where this ``session``'s recording and features are kept: the same
        file analysed again (another variant) is rescored, not recomputed;
        by the same variant, its analysis is reused.
    overlays : iterable of str
        Drawn over the feature panels (of :data:`~deceptio.serving.figure_data.OVERLAYS`):
        the saliency of the variant's networks, the F0 and LSF tracks over the spectrogram.

    Raises
    ------
    DeceptioError
        For anything the person can fix (no, unreadable, silent, too short or
        too long audio; an unknown variant). The message is written for them.
    """
    report = progress or (lambda fraction, description: None)
    overlays = check_overlays(overlays)
    key = RecordingCache.key(session, source) if cache is not None else None
    prepared = cache.get(key) if cache is not None else None
    shown = cache.shown(key, variant) if prepared is not None else None
    if prepared is None:
        report(0.05, "reading the recording and computing features")
        prepared = detector.prepare_features(detector.prepare(source, name=name), variant=variant)
        if cache is not None:
            cache.put(key, prepared)
    if shown is None:
        report(0.5, "scoring every window")
        analysis = detector.analyze_recording(prepared.recording, variant=variant,
                                              band=detector.calibration(variant).inconclusive_band, prepared=prepared)
        shown = _Shown(variant, analysis)
        if cache is not None:
            cache.keep_shown(key, shown)
    analysis = shown.analysis
    config = detector.feature_config
    panels = plots.panels_for(variant, analysis.images)
    features = _feature_figure(detector, shown, overlays, report)
    report(0.9, "drawing the timeline")
    timeline = interactive.timeline_plot(analysis, config=config, window=detector.model_input(variant).window)
    profile = voice_profile(analysis.features, analysis.speech, config=config)
    titles = " · ".join(plots.PANELS[key][0].split(" (")[0].split(",")[0] for key in panels)
    report(0.95, "sending the result to the page")
    return PageResult(
        analysis=analysis,
        verdict_markdown=verdict_summary(analysis, detector.card(variant), profile),
        probabilities={"deceptive": analysis.p_deceptive, "truthful": 1.0 - analysis.p_deceptive},
        card_markdown=card_summary(detector.card(variant)),
        panels=panels,
        panels_markdown=(f"Panels on one time axis: {titles}. Grey spans are not speech: the model never read them. "
                         "Computed from the same arrays the model's input images were built from."),
        feature_figure=features,
        timeline_figure=timeline,
        profile=profile,
    )


def comparison_markdown(comparison: Comparison) -> str:
    """The compare tab's text: what the difference of p(deceptive) can mean, and the plain features side by side."""
    rows = ["| | baseline | statement | difference |", "| --- | --- | --- | --- |"]
    for name, row in comparison.feature_deltas().items():
        label, unit = FEATURE_LABELS[name]
        cell = lambda value: "—" if value is None else f"{value:.2f}"  # noqa: E731
        sign = "" if row["delta"] is None or row["delta"] < 0 else "+"
        rows.append(f"| {label}{f' ({unit})' if unit else ''} | {cell(row['baseline'])} | {cell(row['statement'])} "
                    f"| {sign}{cell(row['delta'])} |")
    p_row = (f"| **p(deceptive), {comparison.variant}** | {comparison.baseline.p_deceptive:.2f} | "
             f"{comparison.statement.p_deceptive:.2f} | **{comparison.delta_p:+.2f}** |")
    return ("### The statement against the speaker's own baseline\n\n" + within_speaker_line(comparison) + "\n\n"
            + "\n".join(rows[:2] + [p_row] + rows[2:]) + f"\n\n{CAVEAT}")


def compare_for_page(detector: Detector, baseline, statement, variant: str, *, cache: RecordingCache | None = None,
                     session: str = "", progress: Progress | None = None) -> ComparePageResult:
    """Analyse a baseline recording (one the speaker states is true) and a statement by one variant, side by side.

    Both figures of both recordings share one time range (the longer
    recording's), so they can be read against each other.

    Raises
    ------
    DeceptioError
        For either recording, naming which one.
    """
    report = progress or (lambda fraction, description: None)
    results = []
    for source, role, start in ((baseline, "the baseline", 0.0), (statement, "the statement", 0.5)):
        if source is None:
            raise AudioError(f"no recording was given for {role}: add one, then press Compare")
        label = f"{role} ({Path(source).name})" if isinstance(source, (str, os.PathLike)) else role
        results.append(analyze_for_page(detector, source, variant, cache=cache, session=session, name=label,
                                        progress=lambda fraction, text, start=start: report(start + fraction / 2, text)))
    a, b = results
    comparison = compare_analyses(a.analysis, b.analysis, a.profile, b.profile, detector.card(variant))
    end = max(a.analysis.duration_s, b.analysis.duration_s)
    for figure in (a.timeline_figure, a.feature_figure, b.timeline_figure, b.feature_figure):
        figure.update_xaxes(range=[0.0, end])
    return ComparePageResult(comparison, comparison_markdown(comparison), a, b)


class LiveRecording:
    """What a streaming microphone has sent so far, for a provisional timeline while it records.

    Chunks arrive as ``(rate, samples)`` (int16 or float, mono or channels
    last); :meth:`due` says when enough new audio has come for another
    provisional analysis. The provisional scores are the whole recording so
    far analysed afresh (each image is normalised over the speech so far), so
    they can shift as more speech arrives; the final analysis, of the finished
    recording, is the one to read.
    """

    def __init__(self, *, max_s: float) -> None:
        self.max_s = max_s
        self.rate: int | None = None
        self.chunks: list[np.ndarray] = []
        self.n_samples = 0
        self.analysed_samples = 0
        self.updates = 0

    def add(self, rate: int, data: np.ndarray) -> None:
        data = np.asarray(data)
        if self.rate is None:
            self.rate = int(rate)
        elif int(rate) != self.rate:
            raise AudioError(f"the microphone changed its sample rate from {self.rate} to {rate} Hz mid-recording")
        mono = data.astype(np.float32)
        if np.issubdtype(data.dtype, np.integer):
            mono /= float(np.iinfo(data.dtype).max)
        if mono.ndim == 2:
            mono = mono.mean(axis=1)
        if self.seconds + mono.size / self.rate > self.max_s:
            raise AudioError(f"the live recording is longer than the {self.max_s / 60:.1f}-minute limit; stop and analyse it")
        self.chunks.append(mono)
        self.n_samples += mono.size

    @property
    def seconds(self) -> float:
        return self.n_samples / self.rate if self.rate else 0.0

    def due(self, every_s: float) -> bool:
        """Whether ``every_s`` seconds of audio have arrived since the last provisional analysis."""
        return self.rate is not None and self.n_samples - self.analysed_samples >= every_s * self.rate

    def source(self) -> tuple[int, np.ndarray]:
        """The recording so far, as a ``(rate, samples)`` source for :meth:`Detector.analyze`."""
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.rate, (self.chunks[0] if self.chunks else np.zeros(0, dtype=np.float32))

    def save(self, path: Path) -> Path:
        """Write the recording so far as a 16-bit WAV (what the page then analyses as the finished recording)."""
        import soundfile as sf

        rate, samples = self.source()
        if rate is None or samples.size == 0:
            raise AudioError("the live recording is empty: nothing was recorded")
        sf.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")
        return path

    def provisional(self, detector: Detector, variant: str) -> tuple[Analysis, str]:
        """Analyse everything so far; returns the analysis and the status line the page shows."""
        self.analysed_samples = self.n_samples
        analysis = detector.analyze(self.source(), variant=variant, name="the live recording")
        self.updates += 1
        status = (f"**Live, provisional** (update {self.updates}): {self.seconds:.0f} s recorded, "
                  f"{len(analysis.windows)} window(s) scored so far, p(deceptive) {analysis.p_deceptive:.2f}. Each update "
                  "rescores all the speech so far, so earlier windows can shift. Stop gives the final result.")
        return analysis, status

