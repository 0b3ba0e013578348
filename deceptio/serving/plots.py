"""Matplotlib figures of one analysis, for static PNGs (README, reports, downloads): the features and the timeline.

What each figure holds is prepared in :mod:`deceptio.serving.figure_data`,
shared with the page's interactive Plotly figures
(:mod:`deceptio.serving.interactive`); this module only draws it. Figures are
:class:`matplotlib.figure.Figure` objects on the Agg canvas, made without
``pyplot``, so no global figure list grows and nothing needs a display.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from deceptio.features import FeatureConfig
from deceptio.modeling.images import WindowConfig
from deceptio.serving.figure_data import (
    BAR_HEIGHT,
    BASE_PANELS,
    HEIGHTS,
    NON_SPEECH_LABEL,
    PANELS,
    Panel,
    Ticks,
    Track,
    feature_view,
    panels_for,
    timeline_view,
)

__all__ = ["BASE_PANELS", "PANELS", "feature_figure", "panels_for", "timeline_figure"]

_WIDTH_IN = 12.0
_LEFT, _RIGHT = 0.075, 0.985  # figure fractions, the same in both figures so their time axes line up
_NON_SPEECH = {"facecolor": "0.55", "alpha": 0.28, "linewidth": 0, "gid": "non-speech"}


def _shade(ax, spans, **kwargs) -> None:
    """Grey over the spans the speech detector left out, the full height of the axes."""
    if spans:
        ax.broken_barh([(start, end - start) for start, end in spans], (0, 1), transform=ax.get_xaxis_transform(),
                       **_NON_SPEECH, **kwargs)


def _y_ticks(ax, ticks: Ticks) -> None:
    ax.yaxis.set_major_locator(FixedLocator(ticks.values))
    ax.yaxis.set_major_formatter(FixedFormatter(ticks.labels))
    ax.yaxis.set_minor_locator(NullLocator())


def _layout(n_rows: int, heights: list[float], top_in: float = 0.75, bottom_in: float = 0.55) -> tuple[Figure, list, list]:
    height = sum(heights) + top_in + bottom_in
    figure = Figure(figsize=(_WIDTH_IN, height), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(
        n_rows, 2, width_ratios=(1.0, 0.012), wspace=0.015, height_ratios=heights, hspace=0.42,
        left=_LEFT, right=_RIGHT - 0.045, top=1 - top_in / height, bottom=bottom_in / height,
    )
    axes, caxes = [], []
    for row in range(n_rows):
        axes.append(figure.add_subplot(grid[row, 0], sharex=axes[0] if axes else None))
        caxes.append(figure.add_subplot(grid[row, 1]))
    figure.text(_LEFT, 1 - 0.12 / height, "", fontsize=9, va="top", gid="header")
    return figure, axes, caxes


def _header(figure: Figure, text: str) -> None:
    next(t for t in figure.texts if t.get_gid() == "header").set_text(text)


def _draw_panel(ax, cax, panel: Panel, view) -> None:
    ax.set_title(panel.title + ("" if panel.read else " (not read)"), fontsize=9, loc="left", pad=3,
                 color="black" if panel.read else "0.4")
    ax.tick_params(labelsize=7)
    if panel.image is not None:
        low, high = panel.colour_range
        image = ax.imshow(panel.image, origin="lower", aspect="auto", interpolation="nearest", cmap=panel.colour_map,
                          vmin=low, vmax=high, extent=(*view.edges, *panel.y_range))
        colorbar = ax.figure.colorbar(image, cax=cax)
        colorbar.set_label(panel.colour_label, fontsize=8)
        colorbar.ax.tick_params(labelsize=7)
    else:
        cax.set_axis_off()
        marker = {"marker": ".", "markersize": 1.5} if panel.key == "f0" else {}
        for line in panel.lines:
            ax.plot(view.times, line, color=panel.line_colour, linewidth=1.0 if panel.key == "f0" else 0.7, **marker)
        if panel.voiced is not None:
            ax.fill_between(view.times, 0, 0.07, where=panel.voiced, transform=ax.get_xaxis_transform(),
                            color=panel.line_colour, alpha=0.35, linewidth=0, label="voiced speech")
            ax.legend(loc="upper right", fontsize=7, frameon=False)
        ax.set_yscale("log" if panel.log_y else "linear")
        ax.set_ylim(panel.y_range)
        ax.grid(axis="y", color="0.85", linewidth=0.5)
    _y_ticks(ax, panel.y_ticks)
    ax.set_ylabel(panel.y_label, fontsize=8)
    _shade(ax, view.non_speech)


def _segments(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The closed shapes of an outline whose shapes are separated by NaN."""
    cuts = np.flatnonzero(np.isnan(x))
    points = np.column_stack([x, y])
    parts = (part[np.isfinite(part[:, 0])] for part in np.split(points, cuts))
    return [part for part in parts if len(part) >= 3]


def _draw_overlays(ax, panel: Panel, view) -> None:
    """The saliency outline hanging from the panel's top edge, and the tracks over the spectrogram."""
    if panel.evidence_outline is not None:
        ax.add_collection(PolyCollection(_segments(*panel.evidence_outline), facecolor=(*to_rgb(panel.evidence_colour), 0.5),
                                         edgecolor=panel.evidence_colour, linewidth=0.8, gid="saliency"))
    for track in panel.tracks:
        _draw_track(ax, panel, track, view)


def _draw_track(ax, panel: Panel, track: Track, view) -> None:
    target = ax
    if track.right:
        axis = panel.right_axis
        target = ax.twinx()
        target.set_gid(f"{track.key}-axis")
        target.set_yscale("log" if axis.log_y else "linear")
        target.set_ylim(axis.y_range)
        _y_ticks(target, axis.ticks)
        # Labels inside the plot: outside, they would run into the colour bar.
        target.tick_params(axis="y", direction="in", pad=-4, labelsize=7, labelcolor=track.colour, length=0)
        for label in target.get_yticklabels():
            label.set_horizontalalignment("right")
    for line in track.lines:
        style = {"linewidth": 1.2, "marker": ".", "markersize": 1.5} if track.right else {"linestyle": "none",
                                                                                       "marker": ".", "markersize": 1.2}
        target.plot(view.times, line, color=track.colour, gid=f"{track.key}-track", **style)


def feature_figure(analysis, *, variant: str | None = None, config: FeatureConfig = FeatureConfig(),
                   max_columns: int = 1600, overlays=(), saliency=None) -> Figure:
    """The feature panels of one analysis, stacked on a shared time axis in seconds.

    The parameters are :func:`~deceptio.serving.figure_data.feature_view`'s.
    A header line says once which panels ``variant`` reads; the others are
    titled "(not read)". ``overlays`` draw the saliency (``gid="saliency"``),
    the F0 track on a right-hand Hz axis over the spectrogram (a twin axes,
    ``gid="f0-axis"``) and the LSF pairs on its rows (``gid="lsf-track"``).

    Returns
    -------
    matplotlib.figure.Figure
        One row per panel of :func:`panels_for`; images carry labelled colour
        bars, frequency axes are in Hz, non-speech spans are shaded grey and
        the contours have gaps there (F0: outside voiced speech).
    """
    view = feature_view(analysis, variant=variant, config=config, max_columns=max_columns, overlays=overlays,
                        saliency=saliency)
    header = textwrap.fill(" ".join((view.header,) + view.notes), 150)
    figure, axes, caxes = _layout(len(view.panels), [HEIGHTS[panel.key] for panel in view.panels],
                                  top_in=0.6 + 0.15 * (header.count("\n") + 1))
    _header(figure, header)
    for panel, ax, cax in zip(view.panels, axes, caxes):
        _draw_panel(ax, cax, panel, view)
        _draw_overlays(ax, panel, view)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlim(view.edges)
    axes[-1].set_xlabel(view.x_label, fontsize=8)
    return figure


def timeline_figure(analysis, *, config: FeatureConfig = FeatureConfig(), window: WindowConfig | None = None,
                    max_columns: int = 1600) -> Figure:
    """The recording's level envelope and, under it, p(deceptive) of every analysis window.

    The envelope is the frame RMS (``features["rms_db"]``) drawn as a
    waveform outline; spans the speech detector left out are shaded. Each
    window's calibrated p(deceptive) is a bar at that height over the stretch
    nearer its centre than any other window's (bars never overlap), coloured
    by which way it leans, with a legend; the inconclusive band
    ``0.5 ± analysis.band`` and the whole recording's p (dashed) are marked.
    ``window`` (the variant's :class:`WindowConfig`) lets the header state
    the windows' length and hop.
    """
    view = timeline_view(analysis, config=config, window=window, max_columns=max_columns)
    figure, (wave, timeline), caxes = _layout(2, [1.2, 1.9], bottom_in=0.95)
    _header(figure, view.header)
    for cax in caxes:
        cax.set_axis_off()

    wave.fill_between(view.times, -view.envelope, view.envelope, color="#3a5a80", linewidth=0, step="mid",
                      label="level (RMS envelope)")
    _shade(wave, view.non_speech, label=NON_SPEECH_LABEL)
    wave.set_ylim(-1.05, 1.05)
    wave.set_yticks([])
    wave.set_ylabel("level", fontsize=8)
    wave.set_title("Waveform (RMS envelope)", fontsize=9, loc="left", pad=3)
    wave.legend(loc="upper right", fontsize=7, frameon=False, ncol=2)
    wave.tick_params(labelbottom=False, labelsize=7)

    timeline.axhspan(0.5 - view.band, 0.5 + view.band, color="0.9", linewidth=0, gid="band")
    timeline.axhline(0.5, color="0.3", linewidth=0.8)
    for bar in view.bars:
        timeline.bar(bar.left, BAR_HEIGHT, width=bar.right - bar.left, bottom=bar.p_deceptive - BAR_HEIGHT / 2,
                     align="edge", color=view.colours[bar.category], linewidth=0, gid="window")
    timeline.axhline(view.p_deceptive, color="black", linestyle="--", linewidth=0.9)
    _shade(timeline, view.non_speech)
    handles = [Patch(color=view.colours[key], label=label) for key, label in view.legend.items()]
    handles += [Patch(color="0.9", label=f"inconclusive band (0.5 ± {view.band:.2f})"),
                Line2D([], [], color="black", linestyle="--", linewidth=0.9, label=f"whole recording: {view.p_deceptive:.2f}")]
    timeline.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.2), fontsize=7, frameon=False, ncol=5)
    timeline.set_title("p(deceptive) per window", fontsize=9, loc="left", pad=3)
    timeline.set_ylim(0, 1)
    timeline.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    timeline.set_ylabel("p(deceptive)", fontsize=8)
    timeline.text(1.0, 0.97, "deceptive ↑", transform=timeline.transAxes, ha="right", va="top", fontsize=7, color="#c0392b")
    timeline.text(1.0, 0.03, "truthful ↓", transform=timeline.transAxes, ha="right", va="bottom", fontsize=7, color="#2471a3")
    timeline.tick_params(labelsize=7)
    timeline.set_xlim(view.edges)
    timeline.set_xlabel("time (s)", fontsize=8)
    return figure
