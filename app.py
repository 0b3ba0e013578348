"""The deceptio web page: record or upload a story, see what the model saw, get a verdict and its honest figures.

Thin on purpose: the library does the work (``deceptio.serving.page.analyze_for_page``);
this file lays out the page, loads the models once, and launches only when run.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--weights weights/ | hf://OWNER/REPO@REVISION]
                  [--max-file-mb 100] [--max-minutes 15] [--concurrency 2]

The limits hold on the server: Gradio's upload route refuses a file over
``--max-file-mb`` and the library refuses one over either cap before decoding
it; at most ``--concurrency`` analyses run at once and at most ``QUEUE_SIZE``
wait, so many visitors cannot exhaust memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

import gradio as gr
from gradio.route_utils import delete_files_created_by_app
from plotly.graph_objects import Figure

from deceptio import DeceptioError, Detector
from deceptio.audio import AudioConfig, check_audio_file
from deceptio.serving.hub import WeightsFallbackWarning, is_hub_uri, resolve_weights
from deceptio.serving.downloads import DownloadFolder, write_downloads
from deceptio.serving.interactive import PAGE_HEAD, timeline_plot
from deceptio.serving.page import (CAVEAT, LiveRecording, RecordingCache, analyze_for_page, compare_for_page,
                                   variant_choices, variant_description)
from deceptio.serving.page import features_for_page
from deceptio.serving.figure_data import OVERLAYS, SALIENCY_NOTE
from deceptio.serving.wording import training_line
from deceptio.runtime import tune_allocator
from deceptio.paths import DEFAULT_WEIGHTS

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLES = (  # made for this project with espeak-ng and sox; none is a real person and none has a truth label
    ("synthetic_story_male.flac", "Synthetic story, male voice (39 s)"),
    ("synthetic_statement_female.ogg", "Synthetic statement, female voice (10 s)"),
    ("synthetic_long_story_female.ogg", "Synthetic long story, female voice (5 min)"),
)
MAX_FILE_MB = 100  # a 15-minute mono 16-bit WAV at 48 kHz is 86 MB; stereo or longer files come compressed
MAX_MINUTES = 15.0
# Analyses at once. One of a 15-minute recording peaks near 750 MB over the server's ~1 GB idle size, so two
# keep it under ~2.6 GB however many people wait (tests/test_load.py measures 16 visitors); two cores gain
# nothing from more.
CONCURRENCY = 2
QUEUE_SIZE = 64  # waiting requests beyond this are told the queue is full
ANALYSES = "analyses"  # the concurrency group every analysing event belongs to
KEEP_UPLOADS_S = 3600  # uploads are deleted an hour after they arrive, and all of them when the server stops cleanly

INTRO = """# deceptio — truthful or deceptive, from the voice?

Record or upload a spoken story (wav, flac, ogg or mp3; at least {min_speech:g} s of speech, at most
{minutes:g} minutes and {megabytes:g} MB), pick a model and press **Analyze**. You get a calibrated p(deceptive)
with an *inconclusive* band, the model's cross-validated figures beside its baselines, the features it read,
and where in the recording it leaned which way. A model that does not beat its baselines gives only its lean,
never a verdict. **{caveat}**

{trained}"""

LIVE_EVERY_S = 2.0  # seconds of new audio between provisional timelines (one window hop)
LIVE_HINT = ("Press Record here instead of in the box above to see p(deceptive) per window appear while you speak "
             "(provisional: every update rescores all the speech so far). Stop analyses the whole take.")
NO_RESULT = "*No analysis yet: record or upload a story, or pick a synthetic example, then press Analyze.*"

Outputs = tuple[str, dict[str, float], str, str, Figure, Figure]


ERROR_TITLE = "### Cannot analyse this recording"
NEW_RECORDING = "*A new recording is loaded: press **Analyze** to analyse it.*"
# Table headers break between words only (never "accur/acy"); a wide table scrolls instead of squeezing.
CSS = """
#card table { display: block; overflow-x: auto; }
#card th, #card td { overflow-wrap: normal; word-break: normal; hyphens: none; }
#card th { white-space: nowrap; }
#verdict blockquote { border-left: 4px solid #d98a00; background: #fff7e6; padding: 0.3em 0.8em; }
"""


def error_outputs(message: str) -> Outputs:
    """What the page shows instead of a result: the reason, kept on the page until the next action."""
    return (f"{ERROR_TITLE}\n\n{message}\n\n*Pick another recording, or fix this one and press Analyze again.*",
            None, "", "", None, None)


def build_demo(detector: Detector, *, weights_note: str = "") -> gr.Blocks:
    """The page, wired to one loaded :class:`Detector`; launches nothing."""
    # The last recordings' audio and features (per visitor, bounded): another variant only rescores.
    cache = RecordingCache()
    folder = DownloadFolder(keep_s=KEEP_UPLOADS_S)

    def analyze(audio: str | None, variant: str, request: gr.Request = None,
                progress: gr.Progress = gr.Progress(), overlays: list[str] | None = None) -> Outputs:
        session = getattr(request, "session_hash", None) or ""
        try:
            result = analyze_for_page(detector, audio, variant, cache=cache, session=session, overlays=overlays,
                                      progress=lambda fraction, text: progress(fraction, desc=text))
        except DeceptioError as error:  # the one place a person's mistake becomes a message on the page
            return error_outputs(str(error))
        return (result.verdict_markdown, result.probabilities, result.card_markdown, result.panels_markdown,
                result.timeline_figure, result.feature_figure)

    def reanalyze(audio: str | None, variant: str, request: gr.Request = None,
                  progress: gr.Progress = gr.Progress(), overlays: list[str] | None = None):
        # A new variant re-runs the analysis only when there is a recording to analyse.
        return gr.skip() if audio is None else analyze(audio, variant, request, progress, overlays)

    def redraw_features(audio: str | None, variant: str, overlays: list[str], request: gr.Request = None):
        """The feature figure on the page again, with the chosen overlays; nothing when the page shows no result."""
        session = getattr(request, "session_hash", None) or ""
        figure = None if audio is None else features_for_page(detector, audio, variant, overlays=overlays,
                                                              cache=cache, session=session)
        return gr.skip() if figure is None else figure

    def forget_drawn(request: gr.Request = None) -> None:
        """A new recording: the overlays no longer redraw the last one's figure."""
        cache.forget_shown(getattr(request, "session_hash", None) or "")

    def make_downloads(audio: str | None, variant: str, request: gr.Request = None) -> list[str] | None:
        """The analysis as JSON (what `deceptio analyze --json` prints, plus the card's figures) and both figures as PNG."""
        session = getattr(request, "session_hash", None) or ""
        try:
            result = analyze_for_page(detector, audio, variant, cache=cache, session=session)
        except DeceptioError as error:
            gr.Warning(f"Nothing to download: {error}")
            return None
        config = detector.model_input(variant)
        return [str(path) for path in write_downloads(
            result.analysis, detector.card(variant), folder.session_dir(session),
            name=Path(audio).name, config=config.features, window=config.window)]

    def start_live():
        return LiveRecording(max_s=detector.audio_config.max_duration_s), "*Recording: the timeline below fills in as you speak.*"

    def live_update(chunk, state: LiveRecording | None, variant: str):
        if chunk is None or state is None:
            return gr.skip(), gr.skip(), state
        try:
            state.add(*chunk)
            if not state.due(LIVE_EVERY_S):
                return gr.skip(), gr.skip(), state
            analysis, status = state.provisional(detector, variant)
        except DeceptioError as error:  # too little speech yet, mostly: say so and keep listening
            return gr.skip(), f"*Live: {error}. Keep speaking.*", state
        timeline = timeline_plot(analysis, config=detector.feature_config, window=detector.model_input(variant).window)
        return timeline, status, state

    def finish_live(state: LiveRecording | None, request: gr.Request = None):
        if state is None or state.rate is None:
            return gr.skip(), "*Nothing was recorded.*"
        session = getattr(request, "session_hash", None) or ""
        path = state.save(folder.session_dir(session) / f"live-{state.updates}-{int(state.seconds)}s.wav")
        return str(path), (f"*Recorded {state.seconds:.0f} s ({state.updates} live update(s)); the result above is "
                           "the analysis of the whole take.*")

    def new_recording(audio: str | None) -> Outputs:
        """Any new recording clears the last result; a file that is not usable audio is refused at once."""
        if audio is None:
            return NO_RESULT, None, "", "", None, None
        try:
            check_audio_file(audio, config=detector.audio_config, name=Path(audio).name)
        except DeceptioError as error:
            return error_outputs(str(error))
        return NEW_RECORDING, None, "", "", None, None

    limits = detector.audio_config
    intro = INTRO.format(min_speech=limits.min_speech_s, minutes=limits.max_duration_s / 60,
                         megabytes=limits.max_bytes / 1e6, caveat=CAVEAT, trained=training_line(detector.card(detector.variants[0])))
    # Uploads are people's voices: keep them only as long as the page may still play them back.
    with gr.Blocks(title="deceptio", analytics_enabled=False, delete_cache=(KEEP_UPLOADS_S, KEEP_UPLOADS_S)) as demo:
        gr.Markdown(intro)
        with gr.Tab("Analyse a recording", id="analyse", elem_id="tab-analyse"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=5):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Recording", elem_id="audio")
                    with gr.Accordion("Live: record here and watch the timeline fill in", open=False, elem_id="live-panel"):
                        live = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Live microphone",
                                        elem_id="live")
                        live_status = gr.Markdown(LIVE_HINT, elem_id="live-status")
                    live_state = gr.State(None, time_to_live=KEEP_UPLOADS_S)
                    variant = gr.Dropdown(choices=variant_choices(detector), value=detector.variants[0], label="Model variant",
                                          elem_id="variant", interactive=True)
                    description = gr.Markdown(variant_description(detector.variants[0]), elem_id="variant-description")
                    button = gr.Button("Analyze", variant="primary", elem_id="analyze")
                    gr.Examples(
                        examples=[[str(ASSETS / name)] for name, _ in EXAMPLES if (ASSETS / name).is_file()],
                        example_labels=[label for name, label in EXAMPLES if (ASSETS / name).is_file()],
                        inputs=[audio],
                        label="Synthetic examples (espeak-ng voices made for this project; no truth label)",
                    )
                with gr.Column(scale=6):
                    verdict = gr.Markdown(NO_RESULT, elem_id="verdict")
                    probability = gr.Label(label="Calibrated probability", show_heading=False, elem_id="probability")
                    card = gr.Markdown(elem_id="card")
            with gr.Column():
                timeline = gr.Plot(label="Timeline: p(deceptive) per window under the waveform", elem_id="timeline")
                panels = gr.Markdown(elem_id="panels")
                overlays = gr.CheckboxGroup(choices=[(label, key) for key, label in OVERLAYS.items()], value=[],
                                            label="Draw over the features", elem_id="overlays")
                gr.Markdown(SALIENCY_NOTE, elem_id="overlays-note")
                features = gr.Plot(label="Features on one time axis", elem_id="features")
                with gr.Row(equal_height=True):
                    prepare = gr.Button("Prepare downloads: the analysis (JSON) and both figures (PNG)", size="sm",
                                        elem_id="prepare-downloads")
                    downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
        with gr.Tab("Compare with the speaker's baseline", id="compare", elem_id="tab-compare"):
            compare_tab(detector, cache)
        gr.Markdown(f"Weights: `{weights_note or detector.weights}` · variants loaded: {', '.join(detector.variants)}",
                    elem_id="weights-note")

        outputs = [verdict, probability, card, panels, timeline, features]
        # Both analysing events draw on one pool of --concurrency workers, so their sum stays bounded; the
        # progress bar is drawn once, over the verdict, not over every output.
        button.click(analyze, inputs=[audio, variant, overlays], outputs=outputs, api_name="analyze",
                     concurrency_id=ANALYSES, show_progress_on=[verdict])
        variant.change(variant_description, inputs=variant, outputs=description, queue=False, api_visibility="private").then(
            reanalyze, inputs=[audio, variant, overlays], outputs=outputs, api_visibility="private",
            concurrency_id=ANALYSES, show_progress_on=[verdict])
        # Overlays redraw the features of the analysis on the page (its saliency computed once): nothing rescored.
        overlays.change(redraw_features, inputs=[audio, variant, overlays], outputs=features, api_visibility="private",
                        concurrency_id=ANALYSES, show_progress_on=[features])
        audio.change(forget_drawn, queue=False, api_visibility="private", show_progress="hidden")
        # Upload, example, microphone or clear: the last result never stays beside another recording.
        audio.change(new_recording, inputs=audio, outputs=outputs, queue=False, api_visibility="private",
                     show_progress="hidden")
        # Live: every LIVE_EVERY_S of new audio the whole recording so far is scored again into the timeline;
        # Stop saves the take as the recording and analyses it like any other.
        live.start_recording(start_live, outputs=[live_state, live_status], queue=False, api_visibility="private")
        live.stream(live_update, inputs=[live, live_state, variant], outputs=[timeline, live_status, live_state],
                    stream_every=0.5, time_limit=limits.max_duration_s, concurrency_id=ANALYSES,
                    api_visibility="private", show_progress="hidden")
        live.stop_recording(finish_live, inputs=[live_state], outputs=[audio, live_status],
                            api_visibility="private").then(
            analyze, inputs=[audio, variant, overlays], outputs=outputs, concurrency_id=ANALYSES, api_visibility="private",
            show_progress_on=[verdict])
        # Downloads are made on request (the PNGs take a second to draw) and never outlive their result.
        prepare.click(make_downloads, inputs=[audio, variant], outputs=downloads, api_name="downloads",
                      concurrency_id=ANALYSES, show_progress_on=[downloads])
        for trigger in (audio.change, variant.change, button.click):
            trigger(lambda: None, outputs=downloads, queue=False, api_visibility="private", show_progress="hidden")
    demo.deceptio_downloads = folder  # main() removes it when the server stops
    return demo


COMPARE_INTRO = """Voices differ far more between people than between one person's lies and truths. Give a
recording the speaker states is **true** (the baseline) and the **statement** to check, by the same person: both
are analysed by the same model and shown on one time scale, with the difference of p(deceptive), the plain
features side by side, and what such a difference has meant for held-out speakers."""
NO_COMPARISON = "*No comparison yet: add a baseline and a statement, then press Compare.*"


def compare_tab(detector: Detector, cache: RecordingCache) -> None:
    """The compare tab: a baseline the speaker states is true against the statement, by one variant."""

    def compare(baseline: str | None, statement: str | None, variant: str, request: gr.Request = None,
                progress: gr.Progress = gr.Progress()):
        session = getattr(request, "session_hash", None) or ""
        try:
            result = compare_for_page(detector, baseline, statement, variant, cache=cache, session=session,
                                      progress=lambda fraction, text: progress(fraction, desc=text))
        except DeceptioError as error:
            return f"{ERROR_TITLE}\n\n{error}", None, None, None, None
        return (result.markdown, result.baseline.timeline_figure, result.statement.timeline_figure,
                result.baseline.feature_figure, result.statement.feature_figure)

    gr.Markdown(COMPARE_INTRO)
    with gr.Row():
        baseline = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Baseline: stated to be true",
                            elem_id="compare-baseline")
        statement = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Statement to check",
                             elem_id="compare-statement")
    with gr.Row():
        variant = gr.Dropdown(choices=variant_choices(detector), value=detector.variants[0], label="Model variant",
                              elem_id="compare-variant", interactive=True)
        button = gr.Button("Compare", variant="primary", elem_id="compare")
    reading = gr.Markdown(NO_COMPARISON, elem_id="compare-reading")
    with gr.Row():
        timeline_a = gr.Plot(label="Baseline: p(deceptive) per window", elem_id="compare-timeline-baseline")
        timeline_b = gr.Plot(label="Statement: p(deceptive) per window", elem_id="compare-timeline-statement")
    with gr.Row():
        features_a = gr.Plot(label="Baseline: features", elem_id="compare-features-baseline")
        features_b = gr.Plot(label="Statement: features", elem_id="compare-features-statement")
    outputs = [reading, timeline_a, timeline_b, features_a, features_b]
    button.click(compare, inputs=[baseline, statement, variant], outputs=outputs, api_name="compare",
                 concurrency_id=ANALYSES, show_progress_on=[reading])
    for audio in (baseline, statement):  # a new recording clears the last comparison
        audio.change(lambda: (NO_COMPARISON, None, None, None, None), outputs=outputs, queue=False,
                     api_visibility="private", show_progress="hidden")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Serve the deceptio web page.")
    # Hugging Face Spaces sets GRADIO_SERVER_NAME=0.0.0.0; everywhere else the page stays on loopback.
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="default 7860")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a temporary public link")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="weights folder, or hf://OWNER/REPO@REVISION (falls back to weights/ if unusable)")
    parser.add_argument("--max-file-mb", type=_positive, default=MAX_FILE_MB,
                        help=f"refuse uploads larger than this many megabytes (default {MAX_FILE_MB})")
    parser.add_argument("--max-minutes", type=_positive, default=MAX_MINUTES,
                        help=f"refuse recordings longer than this (default {MAX_MINUTES:g})")
    parser.add_argument("--concurrency", type=_count, default=CONCURRENCY, metavar="N",
                        help=f"analyses run at once; more requests wait in the queue (default {CONCURRENCY})")
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return int(text)


def _stop_gracefully_on_signals() -> None:
    """Ctrl-C and SIGTERM (what a container host sends) both close the server cleanly, deleting kept uploads.

    Gradio closes on KeyboardInterrupt; SIGTERM would otherwise kill the
    process with the uploads still on disk, and a server started in the
    background by a non-interactive shell inherits SIGINT ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_allocator()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WeightsFallbackWarning)
            folder = resolve_weights(args.weights, fallback=DEFAULT_WEIGHTS)
        audio_config = AudioConfig(max_duration_s=args.max_minutes * 60, max_bytes=round(args.max_file_mb * 1e6))
        detector = Detector(folder, audio_config=audio_config)
    except DeceptioError as error:
        print(f"deceptio: error: {error}", file=sys.stderr)
        return 2
    shipped = not is_hub_uri(args.weights) and Path(args.weights).resolve() == DEFAULT_WEIGHTS.resolve()
    note = "weights/ (shipped with the repository)" if shipped else args.weights
    for warning in caught:
        if issubclass(warning.category, WeightsFallbackWarning):
            print(f"deceptio: warning: {warning.message}", file=sys.stderr)
            note = f"weights/ (fallback: {args.weights} could not be used)"
        else:  # not ours to swallow
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    demo = build_demo(detector, weights_note=note)
    _stop_gracefully_on_signals()
    try:
        demo.queue(default_concurrency_limit=args.concurrency, max_size=QUEUE_SIZE).launch(
            server_name=args.host, server_port=args.port, share=args.share, max_file_size=audio_config.max_bytes,
            allowed_paths=[str(ASSETS)], show_error=False, css=CSS, head=PAGE_HEAD,  # PAGE_HEAD: the plots' playhead
        )
    finally:
        demo.deceptio_downloads.close()
        # Gradio deletes its cache (the uploads) in the server's shutdown hook, which a client still connected at
        # Ctrl-C can keep from running before the process exits: delete them here too, once the server is down.
        delete_files_created_by_app(demo, age=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
