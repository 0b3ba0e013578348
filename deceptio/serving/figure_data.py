"""What the page's figures show, prepared once for both renderers: panels, display arrays, masks, ticks and labels.

:mod:`deceptio.serving.plots` (matplotlib: static PNGs for the README and
reports) and :mod:`deceptio.serving.interactive` (Plotly: the page) draw the
same :class:`FeatureView` and :class:`TimelineView`; neither decides what a
panel holds. Everything is on one time axis in seconds, from
:attr:`Analysis.features` and :attr:`Analysis.speech`, the very arrays the
variants' input images were built from. Long recordings are block-averaged
to at most ``max_columns`` display columns; contours are masked (NaN, drawn
as gaps) where they mean nothing: F0 outside voiced speech, the centroid and
the LSFs outside speech.

Overlays (:data:`OVERLAYS`) are prepared here too: the saliency of the
variant's networks on each panel it read (:func:`image_evidence` turns
:meth:`Detector.saliency`'s maps into each input image's share of the logit
per frame), and, over the spectrogram, the F0 contour on a right-hand Hz axis
and the lowest LSF pairs as formant-like tracks on its mel rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, fft_frequencies, mel_filterbank
from deceptio.features.pitch import correct_octave_jumps, gate_quiet_frames
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.variants import get_variant

__all__ = [
    "BAR_HEIGHT",
    "BASE_PANELS",
    "CATEGORIES",
    "HEIGHTS",
    "NON_SPEECH_LABEL",
    "PANELS",
    "LSF_TRACK_PAIRS",
    "OVERLAYS",
    "OVERLAY_NOTES",
    "QUIET_DB",
    "SALIENCY_NOTE",
    "FeatureView",
    "Panel",
    "RightAxis",
    "Ticks",
    "TimelineView",
    "Track",
    "WindowBar",
    "check_overlays",
    "feature_view",
    "hz_label",
    "image_evidence",
    "panels_for",
    "short_title",
    "timeline_view",
]

# Panel key -> (title, the variant input image it shows). Order is top to bottom.
PANELS: dict[str, tuple[str, str]] = {
    "spectrogram": ("Spectrogram (log-mel)", "spectrogram"),
    "mfcc": ("MFCC c1–c19, standardised per coefficient", "mfcc"),
    "lsf": ("LSF (line spectral frequencies)", "lsf"),
    "lpc": ("LPC coefficients", "lpc"),
    "f0": ("F0 (pitch)", "f0"),
    "centroid": ("Spectral centroid", "centroid"),
    "contrast": ("Spectral contrast", "contrast"),
}
BASE_PANELS: tuple[str, ...] = ("spectrogram", "mfcc", "lsf", "f0")  # shown for every variant
# Relative panel heights, the same in both renderers.
HEIGHTS: dict[str, float] = {"spectrogram": 1.9, "mfcc": 1.5, "lsf": 1.6, "lpc": 1.3, "f0": 1.4, "centroid": 1.2,
                             "contrast": 1.2}
NON_SPEECH_LABEL = "not speech (not read by the model)"
# Window category -> (legend label template, colour). Inconclusive is amber, never the grey of the band under it.
CATEGORIES: dict[str, tuple[str, str]] = {
    "deceptive": ("leans deceptive (p ≥ {high:.2f})", "#c0392b"),
    "truthful": ("leans truthful (p ≤ {low:.2f})", "#2471a3"),
    "inconclusive": ("inconclusive ({low:.2f} < p < {high:.2f})", "#e69f00"),
}
# Frames this far below the loud speech (its 95th-percentile level) are pauses inside speech: their F0, centroid
# and LSFs describe the noise floor (YIN finds "voicing" in dither, the centroid sinks to a few Hz), so contours
# have gaps there. Speech's own quiet sounds (fricatives, stops) lie within about 30 dB of its vowels.
QUIET_DB = 40.0
BAR_HEIGHT = 0.03  # p units: the thickness of a window's bar in the timeline
_HZ_TICKS = (100, 250, 500, 1000, 2000, 4000, 8000)
# Overlay key -> what a control offering it says. Each is drawn over the feature panels when asked for.
OVERLAYS: dict[str, str] = {
    "saliency": "Where this model's evidence for 'deceptive' came from (red; saliency)",
    "f0": "F0 (pitch, cyan) over the spectrogram, on a right-hand Hz scale",
    "lsf": "The lowest LSF pairs (green) over the spectrogram: formant-like tracks",
}
SALIENCY_NOTE = ("Red, hanging from the top of each panel the model read: where this model's evidence for "
                 "'deceptive' came from (the deeper, the more). It explains the model, not the speaker.")
LSF_TRACK_PAIRS = 4  # LSF pairs drawn over the spectrogram: the lowest ones, where the formants lie
# What each overlay drawn is, said under a figure's header (the static one's; the page's controls say it beside).
OVERLAY_NOTES: dict[str, str] = {
    "saliency": "Red from the top of a panel: where the model's evidence for 'deceptive' came from (it explains the "
                "model, not the speaker).",
    "f0": "Cyan: F0 of voiced speech, right-hand Hz scale.",
    "lsf": f"Green: the lowest {LSF_TRACK_PAIRS} LSF pairs (mean of each), formant-like.",
}
EVIDENCE_DEPTH = 0.4  # of a panel's height: how far the strongest evidence hangs down from its top edge
_EVIDENCE_COLOUR = "#d7263d"
_F0_TRACK_COLOUR = "#22d3ee"
_LSF_TRACK_COLOUR = "#a3e635"
_LINE_HZ_TICKS = (50, 100, 200, 500, 1000, 2000, 4000, 8000)


@dataclass(frozen=True)
class _Grid:
    """Display frames: block-averaged columns and their centre times."""

    block: int
    column_s: float  # seconds per display column
    times: np.ndarray  # seconds, centre of each display column
    edges: tuple[float, float]  # seconds, left and right edge of the whole image

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Mean over blocks along the last axis, ignoring NaNs (an all-NaN block stays NaN)."""
        x = np.asarray(x, dtype=np.float64)
        if self.block == 1:
            return x
        n = x.shape[-1]
        pad = (-n) % self.block
        padded = np.concatenate([x, np.full(x.shape[:-1] + (pad,), np.nan)], axis=-1)
        blocks = padded.reshape(x.shape[:-1] + (-1, self.block))
        valid = np.isfinite(blocks)
        count = valid.sum(axis=-1)
        total = np.where(valid, blocks, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def spans(self, off: np.ndarray) -> tuple[tuple[float, float], ...]:
        """``(start_s, end_s)`` of every run of display columns where ``off`` is True, within the image."""
        padded = np.concatenate([[False], np.asarray(off, dtype=bool), [False]])
        changes = np.flatnonzero(np.diff(padded.astype(np.int8)))
        half = self.column_s / 2
        return tuple(
            (max(float(self.times[a] - half), self.edges[0]), min(float(self.times[b - 1] + half), self.edges[1]))
            for a, b in zip(changes[::2], changes[1::2])
        )


def _grid(n_frames: int, hop_s: float, max_columns: int) -> _Grid:
    if not isinstance(max_columns, int) or max_columns < 10:
        raise ParameterError(f"max_columns={max_columns!r} must be an integer >= 10")
    block = max(1, -(-n_frames // max_columns))
    n_columns = -(-n_frames // block)
    starts = np.arange(n_columns) * block
    ends = np.minimum(starts + block, n_frames)
    times = (starts + ends - 1) / 2 * hop_s
    return _Grid(block=block, column_s=block * hop_s, times=times, edges=(-0.5 * hop_s, (n_frames - 0.5) * hop_s))


@dataclass(frozen=True)
class Ticks:
    """Tick positions (in the axis's data units) and their labels."""

    values: tuple[float, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RightAxis:
    """A second y axis on a panel's right-hand side (the F0 track's over the spectrogram), in Hz."""

    label: str
    ticks: Ticks
    y_range: tuple[float, float]  # Hz; log10 of these is the Plotly range of a log axis
    log_y: bool = True


@dataclass(frozen=True)
class Track:
    """Contours drawn over an image panel: F0 on the panel's :class:`RightAxis`, or LSF pairs on its own rows.

    ``lines`` are in the data units of the axis they are drawn on (Hz on the
    right-hand axis, mel-band rows on the spectrogram's own); ``hz`` are the
    same lines in Hz, for a hover. NaN where masked.
    """

    key: str  # an OVERLAYS key
    name: str
    lines: tuple[np.ndarray, ...]  # each [shape=(columns,)]
    hz: tuple[np.ndarray, ...]
    colour: str
    right: bool  # drawn on the panel's right-hand axis


@dataclass(frozen=True)
class Panel:
    """One feature panel: an image (rows × display columns) or contour lines over the display columns.

    An image's rows sit at ``rows`` on the y axis (so that a renderer's hover
    can name them: MFCC rows are at 1..19, c1..c19). Lines are in Hz on a
    log axis, NaN where masked.
    """

    key: str
    title: str
    read: bool  # whether the variant shown reads this panel's input image
    y_label: str
    y_ticks: Ticks
    y_range: tuple[float, float]  # data units; a log axis's too
    log_y: bool = False
    image: np.ndarray | None = None  # [shape=(rows, columns)]
    rows: np.ndarray | None = None  # y coordinate of each image row
    row_name: str = "row {}"  # what a row is called, formatted with its y coordinate
    colour_label: str = ""  # what the colour bar shows, with its unit
    value_unit: str = ""  # of an image's values, for a hover ("dB"; empty where unitless)
    colour_map: str = ""  # a name both matplotlib and Plotly know
    colour_range: tuple[float, float] | None = None
    lines: tuple[np.ndarray, ...] = ()  # each [shape=(columns,)], Hz
    line_colour: str = ""
    voiced: np.ndarray | None = None  # F0 only: columns that are mostly voiced speech
    # Saliency overlay: per display column, the evidence for "deceptive" as a fraction of the strongest in the
    # figure ([0, 1], NaN where the model read no frame); the outline it is drawn as, in this panel's data units
    # (x and y, closed shapes separated by NaN), hanging from the top edge.
    evidence: np.ndarray | None = None
    evidence_outline: tuple[np.ndarray, np.ndarray] | None = None
    evidence_colour: str = _EVIDENCE_COLOUR
    tracks: tuple[Track, ...] = ()  # contours drawn over the image
    right_axis: RightAxis | None = None  # the right-hand axis a track is drawn on


@dataclass(frozen=True)
class FeatureView:
    """Everything the feature figure shows."""

    variant: str
    panels: tuple[Panel, ...]
    times: np.ndarray  # seconds, centre of each display column
    edges: tuple[float, float]  # seconds: the whole recording
    non_speech: tuple[tuple[float, float], ...]  # (start_s, end_s) spans the speech detector left out
    header: str  # said once: which panels the variant reads
    x_label: str
    duration_s: float
    speech_fraction: float  # of the frames
    f0_median: float | None  # Hz, over voiced speech after octave correction
    overlays: tuple[str, ...] = ()  # OVERLAYS keys drawn, in OVERLAYS order
    notes: tuple[str, ...] = ()  # what each overlay drawn is (OVERLAY_NOTES)
    evidence_scale: float | None = None  # logit units per frame at the full depth of the saliency overlay


@dataclass(frozen=True)
class WindowBar:
    """One analysis window: the time it covers, the stretch its bar is drawn over, its p and category.

    Windows overlap (one every hop, each a whole window long); each bar is
    drawn over the stretch nearer its window's centre than any other
    window's, so bars never overlap and together cover the scored part.
    """

    start: float  # seconds, the window as the model read it
    end: float
    left: float  # seconds, the bar
    right: float
    p_deceptive: float
    category: str  # a key of CATEGORIES


@dataclass(frozen=True)
class TimelineView:
    """Everything the timeline figure shows: the level envelope and p(deceptive) per window."""

    variant: str
    times: np.ndarray
    edges: tuple[float, float]
    envelope: np.ndarray  # [shape=(columns,)], RMS amplitude relative to the loudest column, in [0, 1]
    non_speech: tuple[tuple[float, float], ...]
    bars: tuple[WindowBar, ...]
    band: float
    p_deceptive: float  # the whole recording's
    legend: dict[str, str]  # category -> legend label
    colours: dict[str, str]  # category -> colour
    header: str  # variant, windows, their length and hop
    window_s: float | None  # seconds of speech per window, when known
    hop_s: float | None
    unit: str = "window"  # what a bar is: a "window" scored alone, or a "stretch" of one whole-recording score


def _reads(variant: str) -> set[str]:
    """Input images a variant (or every member of the ensemble) reads."""
    spec = get_variant(variant)
    return set(spec.images) | {image for member in spec.members for image in get_variant(member).images}


def panels_for(variant: str, reads=None) -> tuple[str, ...]:
    """Panels shown for a variant: the four base panels plus every other feature it reads, in :data:`PANELS` order.

    ``reads`` are the images the loaded models read (an analysis's ``images``,
    from their cards); the registry's by default.
    """
    reads = _reads(variant) if reads is None else set(reads)
    return tuple(key for key, (_, image) in PANELS.items() if key in BASE_PANELS or image in reads)


def short_title(key: str) -> str:
    """A panel's title without its explanation: "Spectrogram", "MFCC c1–c19", "LSF", "F0"."""
    return PANELS[key][0].split(" (")[0].split(",")[0]


def _check(analysis) -> tuple[dict[str, np.ndarray], np.ndarray]:
    features = getattr(analysis, "features", None) or {}
    needed = ("log_mel", "mfcc", "lpc", "lsf", "f0", "voiced", "centroid", "contrast", "rms_db")
    missing = [name for name in needed if name not in features]
    if missing:
        raise ParameterError(f"the analysis holds no {missing} features to plot; analyse with Detector.analyze")
    n = features["f0"].shape[-1]
    speech = analysis.speech if analysis.speech is not None else np.ones(n, dtype=bool)
    if speech.shape != (n,):
        raise ParameterError(f"speech mask has shape {speech.shape}, expected ({n},) like the features")
    return features, np.asarray(speech, dtype=bool)


def _mel_centres(config: FeatureConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel band: the filter's weighted mean frequency."""
    weights = mel_filterbank(sample_rate=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                             fmin=config.fmin, fmax=config.fmax)
    freqs = fft_frequencies(sample_rate=config.sample_rate, n_fft=config.n_fft)
    return (weights @ freqs) / weights.sum(axis=1)


def hz_label(value: float) -> str:
    """``1500`` -> ``"1.5k"``, ``250`` -> ``"250"``."""
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _contrast_labels(config: FeatureConfig, n_bands: int) -> list[str]:
    edges = [0.0] + [config.contrast_fmin * 2**k for k in range(n_bands - 1)] + [config.sample_rate / 2]
    return [f"{hz_label(lo)}–{hz_label(hi)}" for lo, hi in pairwise(edges)]


def _hz_axis(low: float, high: float) -> dict:
    """A contour panel's log-Hz y axis from ``low`` to ``high``."""
    values = tuple(float(hz) for hz in _LINE_HZ_TICKS if low <= hz <= high)
    return {"y_label": "Hz", "log_y": True, "y_range": (low, high), "y_ticks": Ticks(values, tuple(map(hz_label, values)))}


def _spectrogram(features, grid: _Grid, config: FeatureConfig) -> dict:
    log_mel = grid.reduce(features["log_mel"])
    top = float(np.nanmax(log_mel))
    centres = _mel_centres(config)
    rows = np.arange(centres.size, dtype=np.float64)
    ticks: list[float] = []
    for hz in _HZ_TICKS:
        row = float(np.interp(hz, centres, rows))
        if centres[0] <= hz <= centres[-1] and (not ticks or row - ticks[-1] >= 0.09 * centres.size):
            ticks.append(row)
    labels = tuple(hz_label(round(float(np.interp(v, rows, centres)), -1)) for v in ticks)
    return {"image": log_mel, "rows": rows, "row_name": "mel band {}", "colour_label": "level (dB)",
            "value_unit": "dB", "colour_map": "magma", "colour_range": (top - 80.0, top), "y_label": "Hz",
            "y_ticks": Ticks(tuple(ticks), labels)}


def _mfcc(features, grid: _Grid, speech: np.ndarray) -> dict:
    # Standardised per coefficient over the speech frames, as in the model's input image: raw c1 spans ten times
    # the range of c10 and would wash the others out.
    mfcc = features["mfcc"][1:].astype(np.float64)
    reference = mfcc[:, speech] if speech.any() else mfcc
    z = (mfcc - reference.mean(axis=1, keepdims=True)) / np.maximum(reference.std(axis=1, keepdims=True), 1e-6)
    rows = np.arange(1, mfcc.shape[0] + 1, dtype=np.float64)  # c1 at 1
    ticks = tuple(sorted({float(c) for c in (1, 5, 10, 15, mfcc.shape[0]) if c <= mfcc.shape[0]}))
    return {"image": grid.reduce(z), "rows": rows, "row_name": "c{}", "colour_label": "z per coefficient",
            "colour_map": "RdBu_r", "colour_range": (-3.0, 3.0), "y_label": "coeff.",
            "y_ticks": Ticks(ticks, tuple(f"c{c:g}" for c in ticks))}


def _lpc(features, grid: _Grid) -> dict:
    lpc = grid.reduce(features["lpc"])
    limit = float(np.nanpercentile(np.abs(lpc), 99)) or 1.0
    rows = np.arange(1, lpc.shape[0] + 1, dtype=np.float64)  # a1 at 1
    ticks = tuple(sorted({float(a) for a in (1, 4, 8, 12, lpc.shape[0]) if a <= lpc.shape[0]}))
    return {"image": lpc, "rows": rows, "row_name": "a{}", "colour_label": "LPC coefficient (unitless)",
            "colour_map": "RdBu_r", "colour_range": (-limit, limit), "y_label": "coeff.",
            "y_ticks": Ticks(ticks, tuple(f"a{a:g}" for a in ticks))}


def _contrast(features, grid: _Grid, config: FeatureConfig) -> dict:
    contrast = grid.reduce(features["contrast"])
    labels = _contrast_labels(config, contrast.shape[0])
    rows = np.arange(contrast.shape[0], dtype=np.float64)
    return {"image": contrast, "rows": rows, "row_name": "band {}", "colour_label": "peak − valley (dB)",
            "value_unit": "dB", "colour_map": "viridis",
            "colour_range": (float(np.nanmin(contrast)), float(np.nanmax(contrast))),
            "y_label": "Hz band", "y_ticks": Ticks(tuple(rows.tolist()), tuple(labels))}


def _mostly(grid: _Grid, mask: np.ndarray) -> np.ndarray:
    """Display columns where at least half the frames are in ``mask``."""
    return grid.reduce(mask.astype(np.float64)) >= 0.5


def _masked(grid: _Grid, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` block-averaged over the frames in ``mask`` only; NaN in columns that are mostly outside it."""
    reduced = grid.reduce(np.where(mask, values, np.nan))
    reduced[..., ~_mostly(grid, mask)] = np.nan
    return reduced


def _audible(features, speech: np.ndarray) -> np.ndarray:
    """Speech frames within :data:`QUIET_DB` of the loud speech: where a contour means something."""
    if not speech.any():
        return speech
    return gate_quiet_frames(speech, features["rms_db"], floor_db=QUIET_DB, within=speech)


def _f0(features, grid: _Grid, speech: np.ndarray, config: FeatureConfig) -> tuple[dict, float | None]:
    voiced = np.asarray(features["voiced"], dtype=bool) & (features["f0"] > 0) & speech
    f0 = correct_octave_jumps(features["f0"], voiced)
    low, high = config.f0_min * 0.8, config.f0_max
    median = float(np.median(f0[voiced])) if voiced.any() else None
    part = {"lines": (_masked(grid, f0, voiced),), "line_colour": "#b5179e", "voiced": _mostly(grid, voiced),
            **_hz_axis(low, high)}
    return part, median


def _lsf(features, grid: _Grid, speech: np.ndarray, config: FeatureConfig) -> dict:
    hz = np.clip(features["lsf"] * (config.sample_rate / (2 * np.pi)), 20.0, None)
    lines = _masked(grid, hz, speech)
    low, high = 50.0, config.sample_rate / 2
    return {"lines": tuple(lines), "line_colour": "#1f4e79", **_hz_axis(low, high)}


def _centroid(features, grid: _Grid, speech: np.ndarray, config: FeatureConfig) -> dict:
    centroid = features["centroid"]
    low, high = 100.0, config.sample_rate / 2
    return {"lines": (_masked(grid, centroid, speech & (centroid > 0)),), "line_colour": "#2a9d8f",
            **_hz_axis(low, high)}


def check_overlays(overlays) -> tuple[str, ...]:
    """Overlay names (of :data:`OVERLAYS`; ``None`` for none), checked, in :data:`OVERLAYS` order."""
    if overlays is None:
        return ()
    if isinstance(overlays, str):
        overlays = (overlays,)
    unknown = [name for name in overlays if name not in OVERLAYS]
    if unknown:
        raise ParameterError(f"unknown overlay {unknown[0]!r}; known: {', '.join(OVERLAYS)}")
    return tuple(name for name in OVERLAYS if name in overlays)


def image_evidence(
    maps: dict[str, np.ndarray],
    layouts: dict[str, dict[str, int]],
    *,
    frames: np.ndarray,
    n_frames: int,
    scales: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Each input image's share of the model's logit, per frame of the recording, from class activation maps.

    A map's mean over its rows and a window's frames is that window's logit
    (less the bias); the rows of one image, summed and divided by all the
    stacked rows, are that image's part of it. For an ensemble, an image's
    evidence is the mean over the members, a member that does not read the
    image adding nothing, each member's in calibrated units (divided by its
    temperature, as its p is formed), the scale on which the members are
    averaged.

    Parameters
    ----------
    maps : dict of str to np.ndarray [shape=(rows, len(frames))]
        :meth:`Detector.saliency`'s maps, one per model variant.
    layouts : dict of str to dict of str to int
        Per variant, its images and their rows, top to bottom (``ModelInput.rows()``).
    frames : np.ndarray [shape=(len(frames),)], int
        The recording frame of each map column (``Analysis.frames``).
    n_frames : int
        Frames of the recording.
    scales : dict of str to float, optional
        Per variant, what its logit is divided by (its calibration temperature); 1 by default.

    Returns
    -------
    dict of str to np.ndarray [shape=(n_frames,)], float64
        Per image, logit units per frame; NaN on the frames the models did not read.

    Raises
    ------
    ParameterError
        If a map's shape does not match its layout or the frames.
    """
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size and (frames.min() < 0 or frames.max() >= n_frames):
        raise ParameterError(f"frames run from {frames.min()} to {frames.max()}, outside a recording of {n_frames}")
    scales = scales or {}
    totals: dict[str, np.ndarray] = {}
    for variant, cam in maps.items():
        if variant not in layouts:
            raise ParameterError(f"no layout for variant {variant!r}; layouts for: {', '.join(layouts) or 'none'}")
        rows = layouts[variant]
        cam = np.asarray(cam, dtype=np.float64)
        if cam.shape != (sum(rows.values()), frames.size):
            raise ParameterError(f"{variant}'s map has shape {cam.shape}, expected ({sum(rows.values())}, "
                                 f"{frames.size}) for its layout {dict(rows)} over {frames.size} frames")
        scale = float(scales.get(variant, 1.0)) * cam.shape[0]
        top = 0
        for image, n in rows.items():
            share = cam[top:top + n].sum(axis=0) / scale
            totals[image] = totals.get(image, 0.0) + share
            top += n
    evidence = {}
    for image, total in totals.items():
        full = np.full(n_frames, np.nan)
        full[frames] = total / max(len(maps), 1)
        evidence[image] = full
    return evidence


def _depth(panel_range: tuple[float, float], log_y: bool, fraction: np.ndarray) -> np.ndarray:
    """The y (data units) ``fraction`` of :data:`EVIDENCE_DEPTH` below a panel's top edge."""
    low, high = panel_range
    if log_y:
        low, high = np.log10(low), np.log10(high)
    y = high - fraction * EVIDENCE_DEPTH * (high - low)
    return 10.0 ** y if log_y else y


def _evidence_outline(grid: _Grid, fraction: np.ndarray, y_range: tuple[float, float],
                      log_y: bool) -> tuple[np.ndarray, np.ndarray]:
    """Closed shapes from the panel's top edge down to the evidence, one per run of read columns, NaN between."""
    padded = np.concatenate([[False], np.isfinite(fraction), [False]])
    changes = np.flatnonzero(np.diff(padded.astype(np.int8)))
    half, top = grid.column_s / 2, y_range[1]
    xs, ys = [], []
    for a, b in zip(changes[::2], changes[1::2]):
        times, low = grid.times[a:b], _depth(y_range, log_y, fraction[a:b])
        left, right = max(times[0] - half, grid.edges[0]), min(times[-1] + half, grid.edges[1])
        xs += [[left], times, [right, right, left, left, np.nan]]
        ys += [[low[0]], low, [low[-1], top, top, low[0], np.nan]]
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def _saliency(panels: list[dict], keys: tuple[str, ...], grid: _Grid, evidence: dict[str, np.ndarray],
              reads: set[str]) -> float:
    """Add each read panel's evidence and outline (in place); returns the evidence at the full depth."""
    shown = {}
    for key in keys:
        image = PANELS[key][1]
        if image in reads and image in evidence:
            values = np.asarray(evidence[image], dtype=np.float64)
            shown[key] = _masked(grid, values, np.isfinite(values))
    peaks = [float(np.nanmax(v)) for v in shown.values() if np.isfinite(v).any()]
    scale = max(peaks + [0.0])
    for key, part in zip(keys, panels):
        if key not in shown:
            continue
        # Only evidence for "deceptive" is drawn (what lowered p is left blank); all panels on one scale.
        fraction = np.clip(shown[key], 0.0, None) / scale if scale > 0 else np.where(np.isfinite(shown[key]), 0.0, np.nan)
        part["evidence"] = fraction
        part["evidence_outline"] = _evidence_outline(grid, fraction, part["y_range"], part.get("log_y", False))
    return scale


def _spectrogram_tracks(features, grid: _Grid, audible: np.ndarray, f0_line: np.ndarray, config: FeatureConfig,
                        overlays: tuple[str, ...]) -> dict:
    """The F0 track (right-hand Hz axis) and the lowest LSF pairs (on the mel rows) for the spectrogram panel."""
    part: dict = {"tracks": ()}
    if "f0" in overlays:
        axis = _hz_axis(config.f0_min * 0.8, config.f0_max)
        part["right_axis"] = RightAxis(label="F0 (Hz)", ticks=axis["y_ticks"], y_range=axis["y_range"])
        part["tracks"] += (Track(key="f0", name="F0 (voiced speech)", lines=(f0_line,), hz=(f0_line,),
                                 colour=_F0_TRACK_COLOUR, right=True),)
    if "lsf" in overlays:
        hz = features["lsf"].astype(np.float64) * (config.sample_rate / (2 * np.pi))
        pairs = min(LSF_TRACK_PAIRS, hz.shape[0] // 2)
        means = (hz[0:2 * pairs:2] + hz[1:2 * pairs:2]) / 2  # [shape=(pairs, frames)]
        shown = _masked(grid, means, audible)
        centres = _mel_centres(config)
        rows = np.arange(centres.size, dtype=np.float64)
        # The ticks' own interpolation, so a track at 1 kHz sits on the "1k" tick; none outside the mel bands.
        inside = np.isfinite(shown) & (shown >= centres[0]) & (shown <= centres[-1])
        on_rows = np.where(inside, np.interp(np.where(inside, shown, centres[0]), centres, rows), np.nan)
        hz_shown = np.where(inside, shown, np.nan)
        part["tracks"] += (Track(key="lsf", name=f"LSF pairs 1–{pairs} (mean of each)", lines=tuple(on_rows),
                                 hz=tuple(hz_shown), colour=_LSF_TRACK_COLOUR, right=False),)
    return part


def _with_tracks(tracks: tuple[Track, ...]) -> str:
    # Short: the title must fit a phone's width. The right-hand axis's labels say "Hz".
    return "".join(f" + {'F0 (right scale)' if track.right else 'LSF'}" for track in tracks)


def feature_view(
    analysis,
    *,
    variant: str | None = None,
    config: FeatureConfig = FeatureConfig(),
    max_columns: int = 1600,
    overlays=(),
    saliency: dict[str, np.ndarray] | None = None,
) -> FeatureView:
    """The feature panels of one analysis, ready to draw.

    Parameters
    ----------
    analysis : Analysis
        From :meth:`deceptio.Detector.analyze`; its ``features`` and ``speech`` are shown.
    variant : str, optional
        Which variant's inputs to show besides the base panels (spectrogram,
        MFCC, LSF, F0); ``analysis.variant`` by default.
    config : FeatureConfig
        The settings the features were computed with (frame hop, sample
        rate, mel range): ``Detector.feature_config``.
    max_columns : int >= 10
        Display columns at most; longer recordings are block-averaged.
    overlays : iterable of str
        Of :data:`OVERLAYS`: ``"saliency"`` (on every panel the variant read,
        where its evidence for "deceptive" came from), ``"f0"`` (the F0
        contour over the spectrogram, on a right-hand Hz axis), ``"lsf"``
        (the lowest :data:`LSF_TRACK_PAIRS` LSF pairs over the spectrogram).
    saliency : dict of str to np.ndarray [shape=(frames,)], optional
        Per input image, its evidence per frame of the recording
        (:func:`image_evidence`); needed for the saliency overlay.

    Raises
    ------
    ParameterError
        If the analysis holds no features, ``max_columns`` is out of range, an
        overlay is unknown, or the saliency overlay is asked for without maps.
    """
    overlays = check_overlays(overlays)
    if "saliency" in overlays and saliency is None:
        raise ParameterError("the saliency overlay needs the evidence per image: "
                             "image_evidence(Detector.saliency(analysis), ...)")
    variant = variant or analysis.variant
    # What the loaded models read, from their cards; the registry's for an analysis made elsewhere.
    reads = set(analysis.images) if getattr(analysis, "images", None) else _reads(variant)
    keys = panels_for(variant, reads)
    features, speech = _check(analysis)
    hop_s = config.hop_length / config.sample_rate
    grid = _grid(features["f0"].shape[-1], hop_s, max_columns)
    audible = _audible(features, speech)
    f0, f0_median = _f0(features, grid, audible, config)
    parts = {
        "spectrogram": lambda: _spectrogram(features, grid, config),
        "mfcc": lambda: _mfcc(features, grid, speech),
        "lsf": lambda: _lsf(features, grid, audible, config),
        "lpc": lambda: _lpc(features, grid),
        "f0": lambda: f0,
        "centroid": lambda: _centroid(features, grid, audible, config),
        "contrast": lambda: _contrast(features, grid, config),
    }
    prepared = []
    for key in keys:
        part = parts[key]()
        if "image" in part:
            rows = part["rows"]
            part["y_range"] = (float(rows[0]) - 0.5, float(rows[-1]) + 0.5)
        if key == "spectrogram":
            part.update(_spectrogram_tracks(features, grid, audible, f0["lines"][0], config, overlays))
        prepared.append(part)
    scale = _saliency(prepared, keys, grid, saliency, reads) if "saliency" in overlays else None
    panels = [Panel(key=key, title=PANELS[key][0] + _with_tracks(part.get("tracks", ())),
                    read=PANELS[key][1] in reads, **part) for key, part in zip(keys, prepared)]
    read = [short_title(p.key) for p in panels if p.read]
    unread = [short_title(p.key) for p in panels if not p.read]
    header = f"Read by {variant}: {', '.join(read) or 'none of these'}."
    if unread:
        header += f" Shown for reference, not read: {', '.join(unread)}."
    notes = tuple(OVERLAY_NOTES[name] + (" Ensemble: its members' evidence, averaged."
                                         if name == "saliency" and get_variant(variant).members else "")
                  for name in overlays)
    return FeatureView(
        variant=variant, panels=tuple(panels), times=grid.times, edges=grid.edges,
        non_speech=grid.spans(~_mostly(grid, speech)), header=header,
        x_label="time (s) — grey: not speech, not read by the model",
        duration_s=float(features["f0"].shape[-1] * hop_s), speech_fraction=float(speech.mean()) if speech.size else 0.0,
        f0_median=f0_median, overlays=overlays, notes=notes, evidence_scale=scale,
    )


def _category(p: float, band: float) -> str:
    return "deceptive" if p >= 0.5 + band else "truthful" if p <= 0.5 - band else "inconclusive"


def _bars(windows, band: float) -> tuple[WindowBar, ...]:
    ordered = sorted(windows, key=lambda w: (w.start + w.end) / 2)
    centres = [(w.start + w.end) / 2 for w in ordered]
    # Bar edges halfway between neighbouring centres; the outer edges are the first window's start and the last's end.
    cuts = [ordered[0].start] + [(a + b) / 2 for a, b in pairwise(centres)] + [ordered[-1].end] if ordered else []
    return tuple(
        WindowBar(start=w.start, end=w.end, left=left, right=right, p_deceptive=w.p_deceptive,
                  category=_category(w.p_deceptive, band))
        for w, (left, right) in zip(ordered, pairwise(cuts))
    )


def timeline_view(
    analysis,
    *,
    config: FeatureConfig = FeatureConfig(),
    window: WindowConfig | None = None,
    max_columns: int = 1600,
) -> TimelineView:
    """The level envelope and the per-window p(deceptive) of one analysis, ready to draw.

    Parameters
    ----------
    analysis : Analysis
        Its ``windows``, ``band``, ``p_deceptive``, ``features["rms_db"]`` and ``speech``.
    config : FeatureConfig
        The settings the features were computed with.
    window : WindowConfig, optional
        How the variant's windows were cut (``Detector.model_input(variant).window``),
        so that their length and hop can be stated; unstated when omitted.
    max_columns : int >= 10
        Display columns at most.
    """
    features, speech = _check(analysis)
    hop_s = config.hop_length / config.sample_rate
    grid = _grid(features["rms_db"].shape[-1], hop_s, max_columns)
    amplitude = grid.reduce(10.0 ** (features["rms_db"].astype(np.float64) / 20.0))
    peak = float(np.nanmax(amplitude)) or 1.0
    band = float(analysis.band)
    low, high = 0.5 - band, 0.5 + band
    n = len(analysis.windows)
    header = f"{analysis.variant}: p(deceptive) of {n} window{'s' if n != 1 else ''}"
    window_s = hop = None
    unit = "stretch" if window is not None and window.whole else "window"
    if unit == "stretch":
        # One score of the whole recording: the bars are its time cells' attention-weighted shares of it.
        header = (f"{analysis.variant}: one score of the whole recording, shown as the share of each of {n} "
                  "stretches (weighted by the model's attention), as p(deceptive)")
        if len(getattr(analysis, "members", None) or {}) > 1:  # an ensemble: the other members' windows join each stretch
            header += ", averaged with the other members' nearest windows"
    elif window is not None:
        window_s, hop = window.window_frames * hop_s, window.hop_frames * hop_s
        header += f", each {window_s:g} s of speech, one every {hop:g} s"
    return TimelineView(
        variant=analysis.variant, times=grid.times, edges=grid.edges,
        envelope=amplitude / peak, non_speech=grid.spans(~_mostly(grid, speech)), bars=_bars(analysis.windows, band),
        band=band, p_deceptive=float(analysis.p_deceptive),
        legend={key: label.format(low=low, high=high) for key, (label, _) in CATEGORIES.items()},
        colours={key: colour for key, (_, colour) in CATEGORIES.items()},
        header=header, window_s=window_s, hop_s=hop, unit=unit,
    )
