"""Plotly figures of one analysis for the web page: zoom and pan in time, a playhead that follows the player, click to seek.

What each figure holds is prepared in :mod:`deceptio.serving.figure_data`,
shared with the static matplotlib figures (:mod:`deceptio.serving.plots`);
this module only draws it. Every panel of a figure shares one time axis in
seconds (zooming one zooms all); the y axes are fixed, so a drag zooms in
time only. Heatmaps are block-averaged to at most ``max_columns`` columns
and sent as float32, so a 15-minute recording stays light. Overlays (the
saliency of the variant's networks, the F0 and LSF tracks over the
spectrogram) are extra traces, present only when asked for.

:data:`PAGE_HEAD` (for Gradio 6's ``launch(head=...)``) draws the playhead over both
plots while the recording plays, seeks the player when a plot is clicked, and
gives each plot its description (:func:`describe_features`,
:func:`describe_timeline`, carried in ``layout.meta``) as its ``aria-label``.
"""

from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from deceptio.features import FeatureConfig
from deceptio.modeling.images import WindowConfig
from deceptio.serving.figure_data import (
    BAR_HEIGHT,
    HEIGHTS,
    NON_SPEECH_LABEL,
    FeatureView,
    Panel,
    TimelineView,
    Track,
    feature_view,
    short_title,
    timeline_view,
)

__all__ = ["PAGE_HEAD", "PLAYHEAD_JS", "describe_features", "describe_timeline", "feature_plot", "timeline_plot"]

MAX_COLUMNS = 1200  # display columns at most: 0.75 s each for a 15-minute recording, 0.25 s for 5 minutes
_FONT = 12  # px; tick labels one smaller. Legible at 390 px wide, where the figure is not scaled down
_PANEL_PX = 82  # px of plot height per unit of HEIGHTS
_GAP_PX = 34  # px between panels, for each panel's title
_LABEL_PX = 30  # px above the header that Gradio's block label covers
# Both figures' plot areas start and end at the same pixels, so their time axes line up on the page; wide enough
# for the contrast bands' labels on the left and a colour bar on the right, so Plotly never widens them.
_MARGIN = {"l": 82, "r": 92}
_SHADE = "rgba(120, 120, 120, 0.32)"
_EVIDENCE_FILL = "rgba(230, 30, 50, 0.5)"
_NUMBERS = ("No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def _wrap(text: str, width: int = 42) -> str:
    """Plotly does not wrap text: break lines so a header fits a phone's width."""
    return "<br>".join(textwrap.wrap(text, width)) or text


def _as32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _spans_polygon(spans, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """One closed rectangle per span, NaN between them: a single ``fill="toself"`` trace shades them all."""
    x, y = [], []
    for start, end in spans:
        x += [start, start, end, end, start, np.nan]
        y += [low, high, high, low, low, np.nan]
    return _as32(x), _as32(y)


def _shade(figure: go.Figure, spans, y_range: tuple[float, float], row: int, *, legend: bool) -> None:
    x, y = _spans_polygon(spans, *y_range)
    figure.add_trace(go.Scatter(x=x, y=y, fill="toself", fillcolor=_SHADE, mode="lines", line={"width": 0},
                                hoverinfo="skip", name=NON_SPEECH_LABEL, legendgroup="non-speech", showlegend=legend),
                     row=row, col=1)


def _y_axis(figure: go.Figure, row: int, panel: Panel) -> None:
    low, high = panel.y_range
    figure.update_yaxes(
        row=row, col=1, type="log" if panel.log_y else "linear",
        range=[np.log10(low), np.log10(high)] if panel.log_y else [low, high],
        tickvals=list(panel.y_ticks.values), ticktext=list(panel.y_ticks.labels), fixedrange=True,
        title={"text": panel.y_label, "font": {"size": _FONT - 1}, "standoff": 4}, showgrid=panel.image is None,
    )


def _panel_traces(figure: go.Figure, row: int, panel: Panel, view: FeatureView, domain: tuple[float, float]) -> None:
    if panel.image is not None:
        figure.add_trace(go.Heatmap(
            z=_as32(panel.image), x=_as32(view.times), y=_as32(panel.rows), colorscale=panel.colour_map,
            zmin=panel.colour_range[0], zmax=panel.colour_range[1], name=panel.title, legendgroup=panel.key,
            hovertemplate=(f"%{{x:.2f}} s · {panel.row_name.format('%{y}')}<br>%{{z:.2f}} {panel.value_unit}"
                           "<extra></extra>"),
            colorbar={"title": {"text": panel.colour_label, "side": "right", "font": {"size": _FONT - 2}},
                      "len": domain[1] - domain[0], "y": (domain[0] + domain[1]) / 2, "yanchor": "middle",
                      "thickness": 10, "x": 1.0, "xanchor": "left", "xpad": 6, "tickfont": {"size": _FONT - 2}},
        ), row=row, col=1)
    else:
        # All of a panel's lines in one trace, NaN between them: 16 LSFs are one trace, not sixteen.
        gap = np.array([np.nan])
        x = np.concatenate([np.concatenate([view.times, gap]) for _ in panel.lines])
        y = np.concatenate([np.concatenate([line, gap]) for line in panel.lines])
        figure.add_trace(go.Scatter(
            x=_as32(x), y=_as32(y), mode="lines+markers" if panel.key == "f0" else "lines",
            line={"color": panel.line_colour, "width": 1.2}, marker={"size": 3}, connectgaps=False,
            name=short_title(panel.key), legendgroup=panel.key, showlegend=False,
            hovertemplate="%{x:.2f} s<br>%{y:.0f} Hz<extra>" + short_title(panel.key) + "</extra>",
        ), row=row, col=1)
    _shade(figure, view.non_speech, panel.y_range, row, legend=False)
    _y_axis(figure, row, panel)
    _overlay_traces(figure, row, panel, view.times)


def _overlay_traces(figure: go.Figure, row: int, panel: Panel, times: np.ndarray) -> None:
    """The saliency outline and the tracks of one panel, over its data; the right-hand axis a track needs."""
    if panel.evidence_outline is not None:
        x, y = panel.evidence_outline
        figure.add_trace(go.Scatter(
            x=_as32(x), y=_as32(y), fill="toself", fillcolor=_EVIDENCE_FILL, mode="lines",
            line={"color": panel.evidence_colour, "width": 1}, hoverinfo="skip", name="evidence for 'deceptive'",
            legendgroup="overlay-saliency", showlegend=False,
        ), row=row, col=1)
    for track in panel.tracks:
        _track_trace(figure, row, panel, track, times)


def _track_trace(figure: go.Figure, row: int, panel: Panel, track: Track, times: np.ndarray) -> None:
    gap = np.array([np.nan])
    x = np.concatenate([np.concatenate([times, gap]) for _ in track.lines])
    y = np.concatenate([np.concatenate([line, gap]) for line in track.lines])
    hz = np.concatenate([np.concatenate([line, gap]) for line in track.hz])
    trace = go.Scatter(
        x=_as32(x), y=_as32(y), customdata=_as32(hz), mode="lines+markers" if track.right else "markers",
        line={"color": track.colour, "width": 2}, marker={"size": 3 if track.right else 2, "color": track.colour},
        connectgaps=False, name=track.name, legendgroup=f"overlay-{track.key}", showlegend=False,
        hovertemplate="%{x:.2f} s<br>%{customdata:.0f} Hz<extra>" + track.name + "</extra>",
    )
    if not track.right:
        figure.add_trace(trace, row=row, col=1)
        return
    # A right-hand axis over the panel's own, numbered after every subplot's so theirs stay y, y2, ...
    suffix = "" if row == 1 else str(row)
    number = 1 + sum(1 for key in figure.layout.to_plotly_json() if key.startswith("yaxis"))
    axis = panel.right_axis
    low, high = axis.y_range
    figure.layout[f"yaxis{number}"] = {
        "overlaying": f"y{suffix}", "anchor": f"x{suffix}", "side": "right", "type": "log" if axis.log_y else "linear",
        "range": [np.log10(low), np.log10(high)] if axis.log_y else [low, high], "fixedrange": True,
        "tickvals": list(axis.ticks.values), "ticktext": [f"{label} Hz" for label in axis.ticks.labels],
        # Inside the plot: outside, the labels would run into the spectrogram's colour bar.
        "ticklabelposition": "inside", "ticks": "", "showgrid": False, "zeroline": False, "showline": False,
        "tickfont": {"size": _FONT - 1, "color": track.colour, "shadow": "0 0 3px #000, 0 0 2px #000"},
    }
    trace.update(xaxis=f"x{suffix}", yaxis=f"y{number}")
    figure.add_trace(trace)


def _title(figure: go.Figure, text: str, top: float, *, colour: str = "black") -> None:
    figure.add_annotation(text=text, x=0, xref="paper", xanchor="left", y=top, yref="paper", yanchor="bottom",
                          showarrow=False, font={"size": _FONT, "color": colour}, yshift=2)


def _layout(figure: go.Figure, *, rows: int, height: int, top: int, bottom: int, description: str, x_label: str,
            edges: tuple[float, float]) -> None:
    figure.update_layout(
        template="simple_white", height=height, autosize=True, font={"size": _FONT},
        margin={**_MARGIN, "t": top, "b": bottom, "autoexpand": True}, hovermode="closest", dragmode="zoom",
        meta={"description": description, "time_range": list(edges)}, showlegend=False,
    )
    figure.update_xaxes(range=list(edges), tickfont={"size": _FONT - 1}, showgrid=False, ticks="outside")
    figure.update_yaxes(tickfont={"size": _FONT - 1})
    figure.update_xaxes(title={"text": x_label, "font": {"size": _FONT - 1}, "standoff": 6}, row=rows, col=1)


def feature_plot(analysis, *, variant: str | None = None, config: FeatureConfig = FeatureConfig(),
                 max_columns: int = MAX_COLUMNS, overlays=(), saliency: dict[str, np.ndarray] | None = None) -> go.Figure:
    """The feature panels of one analysis as an interactive Plotly figure, on one shared time axis in seconds.

    The parameters are :func:`~deceptio.serving.figure_data.feature_view`'s
    (here at most :data:`MAX_COLUMNS` columns by default). The header says
    once which panels ``variant`` reads; the others are titled "(not read)"
    in grey. ``overlays`` add traces (what they are is said by the page's
    controls, not in the header, which stays short enough for a phone): the saliency outline on each panel the
    variant read (legend group ``overlay-saliency``), the F0 track on a
    right-hand Hz axis over the spectrogram (``overlay-f0``, its axis numbered
    after every panel's) and the LSF pairs on the spectrogram's rows
    (``overlay-lsf``).

    Returns
    -------
    plotly.graph_objects.Figure
        One subplot per panel of :func:`~deceptio.serving.figure_data.panels_for`
        (a heatmap with a labelled colour bar, or contour lines with gaps where
        masked), non-speech spans shaded, ``layout.meta["description"]`` set.
    """
    view = feature_view(analysis, variant=variant, config=config, max_columns=max_columns, overlays=overlays,
                        saliency=saliency)
    heights = [HEIGHTS[panel.key] * _PANEL_PX for panel in view.panels]
    header = _wrap(view.header)
    top, bottom = _LABEL_PX + 26 + 16 * header.count("<br>") + _GAP_PX, 52
    plot_px = sum(heights) + _GAP_PX * (len(heights) - 1)
    figure = make_subplots(rows=len(view.panels), cols=1, shared_xaxes=True, row_heights=heights,
                           vertical_spacing=_GAP_PX / plot_px if len(heights) > 1 else 0)
    for row, panel in enumerate(view.panels, start=1):
        domain = figure.layout[f"yaxis{row if row > 1 else ''}"].domain
        _panel_traces(figure, row, panel, view, domain)
        _title(figure, panel.title + ("" if panel.read else " (not read)"), domain[1],
               colour="black" if panel.read else "#666666")
    figure.add_annotation(text=header, x=0, xref="paper", xanchor="left", y=1, yref="paper", yanchor="bottom",
                          yshift=_GAP_PX - 4, showarrow=False, align="left", font={"size": _FONT})
    _layout(figure, rows=len(view.panels), height=round(plot_px + top + bottom), top=top, bottom=bottom,
            description=_describe_features(view),
            x_label=view.x_label, edges=view.edges)
    return figure


def timeline_plot(analysis, *, config: FeatureConfig = FeatureConfig(), window: WindowConfig | None = None,
                  max_columns: int = MAX_COLUMNS) -> go.Figure:
    """The level envelope and p(deceptive) per window as an interactive Plotly figure, on one shared time axis.

    Each window's bar lies at its p over the stretch nearer its centre than
    any other window's (bars never overlap; hovering one gives the whole
    window it scored), coloured by which way it leans, with a legend; the
    inconclusive band, the 0.5 line and the whole recording's p are marked,
    non-speech spans shaded. ``window`` (the variant's
    :class:`~deceptio.modeling.images.WindowConfig`) lets the header state
    the windows' length and hop.
    """
    view = timeline_view(analysis, config=config, window=window, max_columns=max_columns)
    heights = [110.0, 220.0]
    header = _wrap(view.header)
    top, bottom = _LABEL_PX + 26 + 16 * header.count("<br>") + _GAP_PX, 118
    plot_px = sum(heights) + _GAP_PX
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=_GAP_PX / plot_px)

    times = _as32(view.times)
    figure.add_trace(go.Scatter(
        x=np.concatenate([times, times[::-1]]), y=_as32(np.concatenate([view.envelope, -view.envelope[::-1]])),
        fill="toself", fillcolor="#3a5a80", mode="lines", line={"width": 0}, hoverinfo="skip",
        name="level (RMS envelope)", legendgroup="level", showlegend=False,
    ), row=1, col=1)
    _shade(figure, view.non_speech, (-1.05, 1.05), 1, legend=True)
    figure.update_yaxes(row=1, col=1, range=[-1.05, 1.05], showticklabels=False, ticks="", fixedrange=True,
                        title={"text": "level", "font": {"size": _FONT - 1}, "standoff": 4})

    band = view.band
    figure.add_shape(type="rect", xref="x2 domain", x0=0, x1=1, yref="y2", y0=0.5 - band, y1=0.5 + band,
                     fillcolor="#dcdcdc", line={"width": 0}, layer="below", showlegend=True,
                     name=f"inconclusive band (0.5 ± {band:.2f})")
    figure.add_shape(type="line", xref="x2 domain", x0=0, x1=1, yref="y2", y0=0.5, y1=0.5,
                     line={"color": "#4d4d4d", "width": 1}, layer="below")
    for category, label in view.legend.items():
        bars = [bar for bar in view.bars if bar.category == category]
        columns = np.array([[(b.left + b.right) / 2, b.right - b.left, b.p_deceptive - BAR_HEIGHT / 2, BAR_HEIGHT,
                             b.start, b.end, b.p_deceptive] for b in bars]).reshape(-1, 7)
        if not bars:  # a category without windows still gets its legend entry: a bar of no size at the start
            columns = np.array([[view.edges[0], 0.0, 0.5, 0.0, np.nan, np.nan, np.nan]])
        x, width, base, height = _as32(columns[:, :4].T)
        figure.add_trace(go.Bar(
            x=x, width=width, base=base, y=height, customdata=_as32(columns[:, 4:]),
            marker={"color": view.colours[category], "line": {"width": 0}}, name=label, legendgroup=category,
            hovertemplate="window %{customdata[0]:.1f}–%{customdata[1]:.1f} s<br>p(deceptive) %{customdata[2]:.2f}"
                          "<extra></extra>",
        ), row=2, col=1)
    figure.add_trace(go.Scatter(
        x=_as32(view.edges), y=_as32([view.p_deceptive] * 2), mode="lines", hoverinfo="skip",
        line={"color": "black", "dash": "dash", "width": 1.2}, name=f"whole recording: {view.p_deceptive:.2f}",
    ), row=2, col=1)
    _shade(figure, view.non_speech, (0.0, 1.0), 2, legend=False)
    figure.update_yaxes(row=2, col=1, range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1], fixedrange=True,
                        title={"text": "p(deceptive)", "font": {"size": _FONT - 1}, "standoff": 4})
    for text, y, colour, anchor in (("deceptive ↑", 0.98, "#c0392b", "top"), ("truthful ↓", 0.02, "#2471a3", "bottom")):
        figure.add_annotation(text=text, x=1, xref="x2 domain", xanchor="right", y=y, yref="y2 domain", yanchor=anchor,
                              showarrow=False, font={"size": _FONT - 1, "color": colour})
    for row, title in ((1, "Waveform (RMS envelope)"), (2, "p(deceptive) per window")):
        _title(figure, title, figure.layout[f"yaxis{row if row > 1 else ''}"].domain[1])
    figure.add_annotation(text=header, x=0, xref="paper", xanchor="left", y=1, yref="paper", yanchor="bottom",
                          yshift=_GAP_PX - 4, showarrow=False, align="left", font={"size": _FONT})
    _layout(figure, rows=2, height=round(plot_px + top + bottom), top=top, bottom=bottom,
            description=_describe_timeline(view),
            x_label="time (s)", edges=view.edges)
    figure.update_layout(showlegend=True, barmode="overlay", bargap=0,
                         legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top",
                                 "font": {"size": _FONT - 1}, "itemclick": False, "itemdoubleclick": False})
    return figure


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 'es' if noun.endswith(('ch', 'sh', 's', 'x')) else 's'}"


def _describe_features(view: FeatureView) -> str:
    names = [short_title(panel.key) for panel in view.panels]
    read = [short_title(panel.key) for panel in view.panels if panel.read]
    number = _NUMBERS[len(names)] if len(names) < len(_NUMBERS) else str(len(names))
    which = (f"all read by {view.variant}" if len(read) == len(names)
             else f"of which {view.variant} reads {', '.join(read) or 'none'}")
    text = (f"{number} feature panels on one time axis over {view.duration_s:.0f} s ({', '.join(names)}), {which}. "
            f"{100 * (1 - view.speech_fraction):.0f} % of the recording is not speech and is shaded")
    if view.f0_median is not None:
        text += f"; the voiced speech has a median F0 of {view.f0_median:.0f} Hz"
    if view.overlays:
        drawn = {"saliency": "where the model's evidence for 'deceptive' came from (red)",
                 "f0": "the F0 contour over the spectrogram", "lsf": "LSF pairs over the spectrogram"}
        text += "; drawn over them: " + ", ".join(drawn[name] for name in view.overlays)
    return text + "."


def _describe_timeline(view: TimelineView) -> str:
    counts = {key: sum(bar.category == key for bar in view.bars) for key in view.legend}
    length = (f" ({view.window_s:g} s of speech each, one every {view.hop_s:g} s)" if view.window_s is not None else "")
    low, high = 0.5 - view.band, 0.5 + view.band
    where = "inside" if low < view.p_deceptive < high else "outside"
    what = (f"p(deceptive) of {_count(len(view.bars), 'window')}{length}" if view.unit == "window" else
            f"one whole-recording p(deceptive) as the attention-weighted shares of {_count(len(view.bars), 'stretch')}")
    return (f"{what} scored by {view.variant} over "
            f"{view.edges[1]:.0f} s, under the recording's level envelope: {counts['deceptive']} lean deceptive, "
            f"{counts['truthful']} lean truthful, {counts['inconclusive']} inconclusive. The whole recording's "
            f"p(deceptive) is {view.p_deceptive:.2f}, {where} the inconclusive band {low:.2f}–{high:.2f}.")


def describe_features(analysis, *, variant: str | None = None, config: FeatureConfig = FeatureConfig()) -> str:
    """Two plain sentences on what :func:`feature_plot` shows, for its alt text (``aria-label``)."""
    return _describe_features(feature_view(analysis, variant=variant, config=config, max_columns=MAX_COLUMNS))


def describe_timeline(analysis, *, config: FeatureConfig = FeatureConfig(), window: WindowConfig | None = None) -> str:
    """Two plain sentences on what :func:`timeline_plot` shows, for its alt text (``aria-label``)."""
    return _describe_timeline(timeline_view(analysis, config=config, window=window, max_columns=MAX_COLUMNS))


# The page's script. Gradio 6 draws a gr.Plot's Plotly figure into a div.js-plotly-plot (its plotly.js 3 sets
# window.Plotly), and gr.Audio plays through WaveSurfer 7, whose <audio> element sits in a shadow root inside
# #audio (Gradio's plain <audio>, used without a waveform, sits in #audio itself). The script finds those elements,
# follows the playing one's currentTime with a line laid over each plot at the pixel its x axis gives
# (gd._fullLayout.xaxis: _offset + l2p; _size is the plot area), and on a click inside a plot's area sets
# currentTime, which WaveSurfer's cursor and clock follow. Plotly redraws nothing: the line is a plain div.
PLAYHEAD_JS = r"""
(() => {
  "use strict";
  if (window.deceptioPlayhead) return;
  const PLOTS = ["timeline", "features"];
  const EVENTS = ["play", "pause", "seeked", "timeupdate", "ended", "emptied", "loadedmetadata"];
  const watched = new WeakSet();
  let frame = 0;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };

  function players() {
    const root = document.getElementById("audio");
    if (!root) return [];
    const found = [...root.querySelectorAll("audio, video")];
    for (const host of root.querySelectorAll("*")) {
      if (host.shadowRoot) found.push(...host.shadowRoot.querySelectorAll("audio, video"));
    }
    const live = found.filter((media) => media.currentSrc || media.getAttribute("src"));
    for (const media of live) {
      if (watched.has(media)) continue;
      watched.add(media);
      for (const type of EVENTS) media.addEventListener(type, schedule);
    }
    return live;
  }
  function player() {
    const live = players();
    return live.find((media) => !media.paused) || live.find((media) => media.currentTime > 0) || live[0] || null;
  }
  function seek(seconds) {
    for (const media of players()) {
      const end = Number.isFinite(media.duration) ? media.duration : seconds;
      media.currentTime = Math.min(Math.max(seconds, 0), end);
    }
    schedule();
  }
  const plots = () => PLOTS.map((id) => document.querySelector(`#${id} .js-plotly-plot`)).filter(Boolean);

  function line(gd) {
    let element = gd.querySelector(":scope > .deceptio-playhead");
    if (!element) {
      element = document.createElement("div");
      element.className = "deceptio-playhead";
      element.setAttribute("aria-hidden", "true");
      element.style.cssText = "position:absolute;width:2px;margin-left:-1px;background:#e4572e;" +
        "pointer-events:none;z-index:10;display:none;";
      if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
      gd.appendChild(element);
    }
    return element;
  }
  function place(gd, seconds) {
    const element = line(gd);
    const layout = gd._fullLayout;
    const axis = layout && layout.xaxis;
    if (seconds === null || !axis || !axis._length || !axis.range || !layout._size) {
      element.style.display = "none";
      return;
    }
    element.dataset.time = seconds.toFixed(3);
    const [low, high] = axis.range;
    if (seconds < Math.min(low, high) || seconds > Math.max(low, high)) {
      element.style.display = "none";
      return;
    }
    element.style.left = `${axis._offset + axis.l2p(seconds)}px`;
    element.style.top = `${layout._size.t}px`;
    element.style.height = `${layout._size.h}px`;
    element.style.display = "block";
  }
  function describe(gd) {
    const text = gd.layout && gd.layout.meta && gd.layout.meta.description;
    if (text && gd.getAttribute("aria-label") !== text) {
      gd.setAttribute("role", "figure");
      gd.setAttribute("aria-label", text);
    }
  }
  function hook(gd) {
    describe(gd);
    if (gd.dataset.deceptioHooked || typeof gd.on !== "function") return;
    gd.dataset.deceptioHooked = "1";
    gd.on("plotly_afterplot", schedule);
    gd.on("plotly_relayout", schedule);
    gd.addEventListener("click", (event) => {
      if (event.target.closest && event.target.closest(".modebar, .legend")) return;
      const layout = gd._fullLayout;
      const axis = layout && layout.xaxis;
      const size = layout && layout._size;
      if (!axis || !size) return;
      const box = gd.getBoundingClientRect();
      const x = event.clientX - box.left;
      const y = event.clientY - box.top;
      if (x < size.l || x > size.l + size.w || y < size.t || y > size.t + size.h) return;
      seek(axis.p2l(x - axis._offset));
    });
  }
  function update() {
    frame = 0;
    const media = player();
    const seconds = media ? media.currentTime : null;
    for (const gd of plots()) {
      hook(gd);
      place(gd, seconds);
    }
    if (media && !media.paused) schedule();  // follow playback frame by frame
  }
  // New plots and players appear in the page's DOM; WaveSurfer's shadow root is looked into once a second.
  new MutationObserver(schedule).observe(document.documentElement, { childList: true, subtree: true });
  setInterval(schedule, 1000);
  window.addEventListener("resize", () => setTimeout(schedule, 150));
  window.deceptioPlayhead = { player, seek, update: schedule };
})();
"""
PAGE_HEAD = f"<script>{PLAYHEAD_JS}</script>"
