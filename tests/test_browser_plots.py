"""The page's interactive figures in a real browser: zoom in time, a playhead that follows the player, a click that seeks, a phone's width.

Headless Debian Chromium driven by Playwright against `python app.py` on
loopback, as in tests/test_browser.py (whose page and verdict helpers these
tests use). The 39 s synthetic story is analysed once; each test then works
on that page, the overlays (saliency, the F0 and LSF tracks) last.
"""

from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest
from bad_inputs import running_app
from conftest import REPO
from test_browser import (  # noqa: F401 (pytestmark: its skips)
    VERDICT_TIMEOUT_MS,
    _figure_state,
    _page,
    _wait_for_verdict,
    pytestmark,
)

from deceptio.serving.figure_data import OVERLAYS

STORY = REPO / "assets" / "synthetic_story_male.flac"
PHONE = {"width": 390, "height": 844}
PLOTS = ("timeline", "features")
# The time axis every other panel's matches (make_subplots' shared_xaxes): a relayout of it moves them all.
REFERENCE = "const reference = Object.keys(gd.layout).find(k => /^xaxis\\d*$/.test(k) && !gd.layout[k].matches);"


def _function(body: str) -> str:
    """A page function of ``[elem_id, values]`` with that plot's Plotly graph div as ``gd``."""
    return f"([id, values]) => {{ const gd = document.querySelector(`#${{id}} .js-plotly-plot`); {body} }}"


def _on_plot(page, elem_id: str, body: str, **values):
    return page.evaluate(_function(body), [elem_id, values])


def _wait_on_plot(page, elem_id: str, condition: str, *, timeout: float = 10_000, **values) -> None:
    page.wait_for_function(_function(f"return Boolean({condition});"), arg=[elem_id, values], timeout=timeout)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The page after the 39 s story was uploaded and analysed, both Plotly figures drawn."""
    with running_app(tmp_path_factory.mktemp("app")) as app, _page(app.url) as page:
        page.locator("#audio input[type=file]").set_input_files(str(STORY))
        page.locator("#audio button[aria-label='Play']").wait_for(timeout=60_000)
        page.locator("#analyze").click()
        _wait_for_verdict(page)
        for elem_id in PLOTS:
            _wait_on_plot(page, elem_id, "gd && gd._fullLayout && gd._fullLayout.xaxis._length > 0",
                          timeout=VERDICT_TIMEOUT_MS)
        yield page


def _ranges(page, elem_id: str) -> list[list[float]]:
    """The x range of every panel of a plot."""
    return _on_plot(page, elem_id, "const l = gd._fullLayout; return Object.keys(l).filter(k => /^xaxis\\d*$/.test(k))"
                                   ".sort().map(k => l[k].range.map(Number));")


def _pixel(page, elem_id: str, seconds: float, panel: int = 1) -> tuple[float, float]:
    """Viewport coordinates of ``seconds`` on a plot's time axis, halfway up its ``panel``-th panel (1 = top).

    The page is first scrolled to put that point in the middle of the viewport, where the mouse can reach it.
    """
    return tuple(_on_plot(page, elem_id, """
        const l = gd._fullLayout, x = l.xaxis, y = l[values.panel > 1 ? `yaxis${values.panel}` : "yaxis"];
        const point = () => { const box = gd.getBoundingClientRect();
            return [box.left + x._offset + x.l2p(values.seconds), box.top + y._offset + y._length / 2]; };
        window.scrollBy(0, point()[1] - window.innerHeight / 2);
        return point();""", seconds=seconds, panel=panel))


def _player(page) -> dict:
    return page.evaluate("() => { const m = window.deceptioPlayhead.player();"
                         "return m && {time: m.currentTime, paused: m.paused, duration: m.duration}; }")


def _playhead(page, elem_id: str) -> dict:
    return _on_plot(page, elem_id, "const e = gd.querySelector('.deceptio-playhead');"
                                   "return e && {left: parseFloat(e.style.left), display: e.style.display,"
                                   "time: parseFloat(e.dataset.time), height: parseFloat(e.style.height)};")


def _reset_zoom(page) -> None:
    for elem_id in PLOTS:
        _on_plot(page, elem_id, "const axes = Object.keys(gd.layout).filter(k => /^xaxis\\d*$/.test(k));"
                                "return window.Plotly.relayout(gd, Object.fromEntries("
                                "axes.map(k => [`${k}.range`, gd.layout.meta.time_range])));")
        _wait_on_plot(page, elem_id, "gd._fullLayout.xaxis.range[0] < 0.5 && gd._fullLayout.xaxis.range[1] > 38")


def _pause(page) -> None:
    pause = page.locator("#audio button[aria-label='Pause']")
    if pause.count():
        pause.click()
    page.wait_for_function("() => { const m = window.deceptioPlayhead.player(); return !m || m.paused; }", timeout=10_000)


@pytest.mark.timeout(900)  # the first test also starts the server and analyses the story
def test_each_plot_is_described_for_screen_readers(analysed):
    timeline, features = (_on_plot(analysed, elem_id, "return gd.getAttribute('aria-label');") for elem_id in PLOTS)
    assert re.search(r"p\(deceptive\) of \d+ windows \(4 s of speech each, one every 2 s\)", timeline), timeline
    assert "whole recording" in timeline
    assert "feature panels on one time axis over 39 s" in features and "F0" in features, features
    assert "undefined" not in timeline + features


@pytest.mark.timeout(120)
def test_a_drag_zooms_every_panel_in_time_together(analysed):
    _reset_zoom(analysed)
    full = _ranges(analysed, "features")
    assert len(full) >= 4 and all(r == pytest.approx(full[0], abs=1e-6) for r in full)
    (x0, y), (x1, _) = _pixel(analysed, "features", 10.0), _pixel(analysed, "features", 20.0)
    analysed.mouse.move(x0, y)
    analysed.mouse.down()
    analysed.mouse.move((x0 + x1) / 2, y + 5, steps=5)
    analysed.mouse.move(x1, y + 10, steps=5)
    analysed.mouse.up()
    _wait_on_plot(analysed, "features", "gd._fullLayout.xaxis.range[1] < 30")
    zoomed = _ranges(analysed, "features")
    assert zoomed[0] == pytest.approx([10.0, 20.0], abs=0.5)  # the dragged stretch, in seconds
    assert all(r == pytest.approx(zoomed[0], abs=1e-6) for r in zoomed), zoomed  # every panel follows
    # The y axes are fixed: a drag zooms in time only.
    assert _on_plot(analysed, "features", "return ['yaxis', 'yaxis2'].map(k => gd._fullLayout[k].fixedrange);") == [True, True]
    # A relayout of the axis the others match (what a script or the mode bar does) moves every panel too.
    _on_plot(analysed, "timeline", REFERENCE + "return window.Plotly.relayout(gd, {[`${reference}.range`]: [5, 7]});")
    assert _ranges(analysed, "timeline") == [pytest.approx([5, 7])] * 2
    _reset_zoom(analysed)


@pytest.mark.timeout(120)
def test_the_playhead_follows_the_recording_as_it_plays(analysed):
    _reset_zoom(analysed)
    analysed.locator("#audio button[aria-label='Play']").click()
    try:
        analysed.wait_for_function("() => { const m = window.deceptioPlayhead.player(); return m && !m.paused"
                                   " && m.currentTime > 0.2; }", timeout=20_000)
        for elem_id in PLOTS:
            _wait_on_plot(analysed, elem_id, "gd.querySelector('.deceptio-playhead')?.style.display === 'block'")
        first = {elem_id: _playhead(analysed, elem_id) for elem_id in PLOTS}
        analysed.wait_for_timeout(1_500)
        second = {elem_id: _playhead(analysed, elem_id) for elem_id in PLOTS}
        now = _player(analysed)
    finally:
        _pause(analysed)
    for elem_id in PLOTS:
        assert second[elem_id]["display"] == "block" and second[elem_id]["height"] > 100, second[elem_id]
        assert second[elem_id]["left"] > first[elem_id]["left"] + 5, (first[elem_id], second[elem_id])
        assert second[elem_id]["time"] - first[elem_id]["time"] >= 0.8, (first[elem_id], second[elem_id])
        assert abs(second[elem_id]["time"] - now["time"]) < 0.5
    # Both plots' playheads stand at the same time, so on the same pixel column (their time axes line up).
    assert abs(second["timeline"]["left"] - second["features"]["left"]) < 3, second


@pytest.mark.timeout(120)
def test_a_click_on_the_timeline_seeks_the_player(analysed):
    _reset_zoom(analysed)
    _pause(analysed)
    for target in (20.0, 7.5):
        x, y = _pixel(analysed, "timeline", target, panel=2)
        analysed.wait_for_timeout(600)  # two clicks within Plotly's 300 ms are a double click: a zoom reset
        analysed.mouse.click(x, y)
        analysed.wait_for_function(f"() => Math.abs(window.deceptioPlayhead.player().currentTime - {target}) < 0.3",
                                   timeout=10_000)
        assert _player(analysed)["paused"]  # a seek, not a play
        # WaveSurfer's own clock follows the element it plays through (it redraws on its own timeupdate
        # event, a moment after the element's currentTime has moved, so wait for it rather than read it once).
        want = f"0:{int(target):02d}"
        try:
            analysed.wait_for_function(
                "want => (document.querySelector('#audio time#time')?.innerText || '').trim() === want",
                arg=want, timeout=10_000)
        except Exception:  # noqa: BLE001 (say what the clock showed instead)
            shown = analysed.locator("#audio time#time").inner_text().strip()
            pytest.fail(f"WaveSurfer's clock shows {shown!r}, not {want!r}, 10 s after the seek")
        assert abs(_playhead(analysed, "features")["time"] - target) < 0.3


@pytest.mark.timeout(120)
def test_at_a_phones_width_the_plots_fit_and_their_labels_are_legible(analysed):
    analysed.set_viewport_size(PHONE)
    try:
        for elem_id in PLOTS:
            _wait_on_plot(analysed, elem_id, "gd._fullLayout.width <= values.width", width=PHONE["width"], timeout=20_000)
        analysed.wait_for_timeout(500)
        overflow = analysed.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
        for elem_id in PLOTS:
            box = analysed.locator(f"#{elem_id} .js-plotly-plot").bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (elem_id, box)
            ticks = _on_plot(analysed, elem_id, """
                return [...gd.querySelectorAll(".xaxislayer-above text, .yaxislayer-above text")].map(t => {
                    const r = t.getBoundingClientRect();
                    return {size: parseFloat(getComputedStyle(t).fontSize), left: r.left, right: r.right,
                            axis: t.closest(".xaxislayer-above") ? "x" : "y", text: t.textContent};
                });""")
            assert len(ticks) >= 6, ticks
            small = [t for t in ticks if t["size"] < 10]
            assert not small, f"{elem_id}: tick labels under 10 px: {small[:5]}"
            x_ticks = sorted((t for t in ticks if t["axis"] == "x" and t["text"]), key=lambda t: t["left"])
            assert len(x_ticks) >= 3, x_ticks
            assert all(b["left"] >= a["right"] for a, b in pairwise(x_ticks)), f"{elem_id}: x labels overlap"
            assert all(t["right"] <= PHONE["width"] for t in x_ticks)
    finally:
        analysed.set_viewport_size({"width": 1280, "height": 900})


def _toggle(page, key: str, on: bool) -> float:
    """Tick or untick one overlay; the seconds until the figure on the page has (or has lost) its traces."""
    box = page.locator("#overlays").get_by_label(OVERLAYS[key], exact=True)
    started = time.perf_counter()
    box.check() if on else box.uncheck()
    group = {"saliency": "overlay-saliency", "f0": "overlay-f0", "lsf": "overlay-lsf"}[key]
    _wait_on_plot(page, "features", f"gd.data && gd.data.some(t => t.legendgroup === values.group) === {str(on).lower()}",
                  timeout=VERDICT_TIMEOUT_MS, group=group)
    return time.perf_counter() - started


def _overlay_traces(page) -> list[dict]:
    """The overlay traces Plotly drew (its full data: the figure's float32 arrays decoded)."""
    return _on_plot(page, "features", """return gd._fullData.filter(t => (t.legendgroup || "").startsWith("overlay-"))
        .map(t => ({group: t.legendgroup, yaxis: t.yaxis || "y", name: t.name, points: (t.y || []).length,
                    y: Array.from(t.y || []).filter(Number.isFinite)}));""")


def _untick_all(page) -> None:
    for key in OVERLAYS:
        if page.locator("#overlays").get_by_label(OVERLAYS[key], exact=True).is_checked():
            _toggle(page, key, False)


@pytest.mark.timeout(600)
def test_the_saliency_toggle_draws_the_evidence_over_every_panel_read_and_takes_it_away(analysed):
    note = analysed.locator("#overlays-note").inner_text()
    assert "evidence for 'deceptive'" in note and "It explains the model, not the speaker." in note
    plain = _figure_state(analysed, "features")
    assert _overlay_traces(analysed) == []
    try:
        _saliency_toggles(analysed, plain)
    finally:
        _untick_all(analysed)


def _saliency_toggles(analysed, plain: str) -> None:
    seconds = [_toggle(analysed, "saliency", True)]
    drawn = _figure_state(analysed, "features")
    assert drawn != plain  # the Plotly data changed
    traces = _overlay_traces(analysed)
    panels = _on_plot(analysed, "features", "return gd.data.filter(t => t.type === 'heatmap' || "
                                            "(t.legendgroup && !t.legendgroup.startsWith('overlay-') && t.legendgroup !== 'non-speech'))"
                                            ".map(t => t.yaxis || 'y');")
    # The ensemble reads every panel: one shape group on each, on that panel's own axis.
    assert sorted(t["yaxis"] for t in traces) == sorted(panels) and len(panels) == 7, (traces, panels)
    assert all(t["group"] == "overlay-saliency" and t["points"] > 10 for t in traces)
    # Drawn, not only sent: Plotly filled the shapes in the SVG.
    assert _on_plot(analysed, "features", "return gd.querySelectorAll('.scatterlayer path.js-fill').length;") >= 7
    assert "evidence for 'deceptive'" in _on_plot(analysed, "features", "return gd.getAttribute('aria-label');")
    seconds.append(_toggle(analysed, "saliency", False))
    assert _overlay_traces(analysed) == [] and _figure_state(analysed, "features") == plain
    seconds.append(_toggle(analysed, "saliency", True))
    assert _figure_state(analysed, "features") == drawn  # the same maps, kept
    seconds.append(_toggle(analysed, "saliency", False))
    print(f"\nsaliency toggles, click to redrawn figure (39 s story, ensemble): "
          f"{', '.join(f'{s:.2f}' for s in seconds)} s")


@pytest.mark.timeout(600)
def test_the_f0_overlay_lies_over_the_spectrogram_on_a_right_hand_hz_axis(analysed):
    _toggle(analysed, "f0", True)
    try:
        (track,) = _overlay_traces(analysed)
        assert track["group"] == "overlay-f0"
        axis = _on_plot(analysed, "features", "const a = gd._fullLayout[values.key];"
                        "return {overlaying: a.overlaying, side: a.side, type: a.type, anchor: a.anchor,"
                        "labels: [...gd.querySelectorAll('text')].map(t => t.textContent)"
                        ".filter(t => /^\\d+ Hz$/.test(t))};",
                        key=track["yaxis"].replace("y", "yaxis"))
        assert (axis["overlaying"], axis["side"], axis["type"], axis["anchor"]) == ("y", "right", "log", "x"), axis
        assert "100 Hz" in axis["labels"] and "200 Hz" in axis["labels"], axis  # its scale, drawn in Hz
        # The male story's voiced speech, in Hz on that axis (its F0 panel's median is near 100 Hz).
        y = sorted(track["y"])
        assert len(y) > 100 and 70 < y[len(y) // 2] < 160, y[len(y) // 2]
        title = _on_plot(analysed, "features", "return [...gd.querySelectorAll('.annotation-text')]"
                                               ".map(t => t.textContent).find(t => t.startsWith('Spectrogram'));")
        assert title.endswith(" + F0 (right scale)"), title
        _toggle(analysed, "lsf", True)
        groups = sorted(t["group"] for t in _overlay_traces(analysed))
        assert groups == ["overlay-f0", "overlay-lsf"]
        lsf = next(t for t in _overlay_traces(analysed) if t["group"] == "overlay-lsf")
        assert lsf["yaxis"] == "y" and all(-0.5 <= v <= 63.5 for v in lsf["y"])  # on the spectrogram's own rows
    finally:
        _untick_all(analysed)
    assert _overlay_traces(analysed) == []
