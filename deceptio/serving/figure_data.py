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
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, fft_frequencies, mel_filterbank
from deceptio.features.pitch import correct_octave_jumps
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.variants import get_variant

__all__ = [
    "BAR_HEIGHT",
    "BASE_PANELS",
    "CATEGORIES",
    "HEIGHTS",
    "NON_SPEECH_LABEL",
    "PANELS",
    "QUIET_DB",
    "FeatureView",
    "Panel",
    "Ticks",
    "TimelineView",
    "WindowBar",
    "feature_view",
    "hz_label",
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
    level = np.asarray(features["rms_db"], dtype=np.float64)
    if not speech.any():
        return speech
    return speech & (level >= np.percentile(level[speech], 95) - QUIET_DB)


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


def feature_view(
    analysis,
    *,
    variant: str | None = None,
    config: FeatureConfig = FeatureConfig(),
    max_columns: int = 1600,
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

    Raises
    ------
    ParameterError
        If the analysis holds no features, or ``max_columns`` is out of range.
    """
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
    panels = []
    for key in keys:
        part = parts[key]()
        if "image" in part:
            rows = part["rows"]
            part["y_range"] = (float(rows[0]) - 0.5, float(rows[-1]) + 0.5)
        panels.append(Panel(key=key, title=PANELS[key][0], read=PANELS[key][1] in reads, **part))
    read = [short_title(p.key) for p in panels if p.read]
    unread = [short_title(p.key) for p in panels if not p.read]
    header = f"Read by {variant}: {', '.join(read) or 'none of these'}."
    if unread:
        header += f" Shown for reference, not read: {', '.join(unread)}."
    return FeatureView(
        variant=variant, panels=tuple(panels), times=grid.times, edges=grid.edges,
        non_speech=grid.spans(~_mostly(grid, speech)), header=header,
        x_label="time (s) — grey: not speech, not read by the model",
        duration_s=float(features["f0"].shape[-1] * hop_s), speech_fraction=float(speech.mean()) if speech.size else 0.0,
        f0_median=f0_median,
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
    if window is not None:
        window_s, hop = window.window_frames * hop_s, window.hop_frames * hop_s
        header += f", each {window_s:g} s of speech, one every {hop:g} s"
    return TimelineView(
        variant=analysis.variant, times=grid.times, edges=grid.edges,
        envelope=amplitude / peak, non_speech=grid.spans(~_mostly(grid, speech)), bars=_bars(analysis.windows, band),
        band=band, p_deceptive=float(analysis.p_deceptive),
        legend={key: label.format(low=low, high=high) for key, (label, _) in CATEGORIES.items()},
        colours={key: colour for key, (_, colour) in CATEGORIES.items()},
        header=header, window_s=window_s, hop_s=hop,
    )
