"""The deceptio web page: record or upload a story, see what the model saw, get a verdict and its honest figures.

Thin on purpose: the library does the work (``deceptio.page.analyze_for_page``);
this file lays out the page, loads the models once, and launches only when run.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--weights weights/ | hf://OWNER/REPO@REVISION]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import gradio as gr
from matplotlib.figure import Figure

from deceptio import DeceptioError, Detector
from deceptio.hub import WeightsFallbackWarning, is_hub_uri, resolve_weights
from deceptio.page import CAVEAT, analyze_for_page, variant_choices, variant_description
from deceptio.weights import DEFAULT_WEIGHTS

ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLES = (  # made for this project with espeak-ng and sox; none is a real person and none has a truth label
    ("synthetic_story_male.flac", "Synthetic story, male voice (39 s)"),
    ("synthetic_statement_female.ogg", "Synthetic statement, female voice (10 s)"),
    ("synthetic_long_story_female.ogg", "Synthetic long story, female voice (5 min)"),
)
INTRO = f"""# deceptio — truthful or deceptive, from the voice?

Record or upload a spoken story (wav, flac, ogg or mp3; at least 2 s of speech, at most 15 minutes), pick a
model and press **Analyze**. You get a calibrated p(deceptive), a verdict with an *inconclusive* band, the
model's cross-validated figures beside its baselines, the features it read, and where in the recording it
leaned which way. **{CAVEAT}**"""

NO_RESULT = "*No analysis yet: record or upload a story, or pick a synthetic example, then press Analyze.*"

Outputs = tuple[str, dict[str, float], str, str, Figure, Figure]


def build_demo(detector: Detector, *, weights_note: str = "") -> gr.Blocks:
    """The page, wired to one loaded :class:`Detector`; launches nothing."""

    def analyze(audio: str | None, variant: str, progress: gr.Progress = gr.Progress()) -> Outputs:
        try:
            result = analyze_for_page(detector, audio, variant, progress=lambda fraction, text: progress(fraction, desc=text))
        except DeceptioError as error:  # the one place a person's mistake becomes a message on the page
            raise gr.Error(str(error), title="Cannot analyse this recording", print_exception=False) from None
        return (result.verdict_markdown, result.probabilities, result.card_markdown, result.panels_markdown,
                result.timeline_figure, result.feature_figure)

    def reanalyze(audio: str | None, variant: str, progress: gr.Progress = gr.Progress()):
        # A new variant re-runs the analysis only when there is a recording to analyse.
        return gr.skip() if audio is None else analyze(audio, variant, progress)

    def cleared():
        return NO_RESULT, None, "", "", None, None

    with gr.Blocks(title="deceptio", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Recording", elem_id="audio")
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
        timeline = gr.Plot(label="Timeline: p(deceptive) per window under the waveform", format="png", elem_id="timeline")
        panels = gr.Markdown(elem_id="panels")
        features = gr.Plot(label="Features on one time axis", format="png", elem_id="features")
        gr.Markdown(f"Weights: `{weights_note or detector.weights}` · variants loaded: {', '.join(detector.variants)}",
                    elem_id="weights-note")

        outputs = [verdict, probability, card, panels, timeline, features]
        button.click(analyze, inputs=[audio, variant], outputs=outputs, api_name="analyze")
        variant.change(variant_description, inputs=variant, outputs=description, queue=False, api_visibility="private").then(
            reanalyze, inputs=[audio, variant], outputs=outputs, api_visibility="private")
        audio.clear(cleared, outputs=outputs, queue=False, api_visibility="private")
    return demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Serve the deceptio web page.")
    # Hugging Face Spaces sets GRADIO_SERVER_NAME=0.0.0.0; everywhere else the page stays on loopback.
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="default 7860")
    parser.add_argument("--share", action="store_true", help="also ask Gradio for a temporary public link")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="weights folder, or hf://OWNER/REPO@REVISION (falls back to weights/ if unusable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WeightsFallbackWarning)
            folder = resolve_weights(args.weights, fallback=DEFAULT_WEIGHTS)
        detector = Detector(folder)
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
    demo.queue(default_concurrency_limit=1).launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size="200mb",
        allowed_paths=[str(ASSETS)], show_error=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
