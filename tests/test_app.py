"""app.py: thin, launches nothing on import, one callback, user errors kept on the page, flags and `deceptio app`."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, WEIGHTS, synthetic_speech
from plotly.graph_objects import Figure

from deceptio import cli
from deceptio.serving.detector import Detector
from deceptio.serving.page import CAVEAT
from deceptio.serving.plots import panels_for
from deceptio.modeling.variants import VARIANTS

EXAMPLE = REPO / "assets" / "synthetic_story_male.flac"


def load_app(name: str = "app"):
    """Import app.py from the repository root as a fresh module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(WEIGHTS)


@pytest.fixture(scope="module")
def demo(detector):
    return load_app().build_demo(detector)


@pytest.fixture
def launches(monkeypatch):
    """Record Blocks.launch calls instead of serving."""
    calls = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append((self, kwargs)))
    return calls


def _callback(demo, api_name: str = "analyze"):
    return next(f.fn for f in demo.fns.values() if f.api_name == api_name)


def _component(demo, elem_id: str):
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def test_importing_app_launches_nothing_and_loads_no_model(monkeypatch):
    events = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda *a, **k: events.append("launch"))
    monkeypatch.setattr(Detector, "__init__", lambda *a, **k: events.append("detector"))
    module = load_app("app_import_check")
    assert callable(module.build_demo) and callable(module.main)
    assert events == []


def test_app_is_thin_no_signal_processing():
    source = (REPO / "app.py").read_text()
    for forbidden in ("import numpy", "scipy", "soundfile", "torch", "compute_features", "np."):
        assert forbidden not in source, forbidden
    assert "if __name__ == \"__main__\":" in source
    # A person's mistake becomes a message kept on the page (never a pop-up that vanishes, never a traceback).
    assert "gr.Error(" not in source and source.count("return error_outputs(") == 2


def test_variant_dropdown_lists_all_five_variants(demo, detector):
    dropdown = _component(demo, "variant")
    values = [value for _, value in dropdown.choices]
    assert sorted(values) == sorted(VARIANTS)
    assert all(label == f"{VARIANTS[value].title} ({value})" for label, value in dropdown.choices)
    assert values[0] == "ensemble" and dropdown.value == "ensemble"
    describe = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "variant_description")
    for name in values:
        assert VARIANTS[name].description in describe(name)


def test_examples_are_the_projects_synthetic_recordings(demo):
    dataset = next(block for block in demo.blocks.values() if isinstance(block, gr.Dataset))
    assert "Synthetic" in dataset.label
    assert len(dataset.sample_labels) == 3 and all(label.startswith("Synthetic") for label in dataset.sample_labels)
    for name in ("synthetic_story_male.flac", "synthetic_statement_female.ogg", "synthetic_long_story_female.ogg"):
        info = sf.info(REPO / "assets" / name)
        assert info.duration > 5
    assert 280 <= sf.info(REPO / "assets" / "synthetic_long_story_female.ogg").duration <= 320
    audio = [path for path in (REPO / "assets").iterdir() if path.suffix in (".wav", ".flac", ".ogg", ".mp3")]
    assert audio and all(path.name.startswith("synthetic_") for path in audio)


def test_each_examples_voice_label_matches_its_measured_pitch(detector):
    from deceptio.features.profile import voice_profile

    config = detector.model_input("prosody").features
    for name in ("synthetic_story_male.flac", "synthetic_statement_female.ogg", "synthetic_long_story_female.ogg"):
        analysis = detector.analyze(REPO / "assets" / name, variant="prosody")
        f0 = voice_profile(analysis.features, analysis.speech, config=config).median_f0_hz
        # 165 Hz: roughly where adult male and female speaking pitch ranges meet
        assert (f0 > 165) == name.split("_")[-1].startswith("female"), (name, f0)


def test_callback_returns_verdict_probability_figures_and_the_cards_figures(demo, detector):
    verdict, probabilities, card_text, panels_text, timeline, features = _callback(demo)(str(EXAMPLE), "spec_mfcc")
    expected = detector.analyze(EXAMPLE, variant="spec_mfcc")
    match = re.search(r"(?:Verdict|Lean): (truthful|deceptive|inconclusive)", verdict)
    assert match and match.group(1) == expected.verdict
    assert f"p(deceptive) = **{expected.p_deceptive:.2f}**" in verdict and "spec_mfcc" in verdict
    assert probabilities["deceptive"] == pytest.approx(expected.p_deceptive)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    card = detector.card("spec_mfcc")
    auc = card["cv"]["auc"]
    assert f"{auc['mean']:.2f} ± {auc['std']:.2f}" in card_text
    gender = card["baselines"]["gender_pitch"]["auc"]
    assert f"{gender['mean']:.2f} ± {gender['std']:.2f}" in card_text
    assert "more common label" in card_text and CAVEAT in card_text and "Learnt from" in card_text
    for name in ("Spectrogram", "MFCC", "LSF", "F0"):
        assert name in panels_text
    assert isinstance(features, Figure) and isinstance(timeline, Figure)
    groups = [trace.legendgroup for trace in features.data if trace.legendgroup != "non-speech"]
    assert groups == list(panels_for("spec_mfcc"))  # one trace group per panel, top to bottom


@pytest.mark.parametrize("case", ["no audio", "silence", "text file", "too short"])
def test_user_errors_stay_on_the_page_as_the_reason(demo, tmp_path, case):
    app = load_app("app_errors")
    if case == "no audio":
        source, expected = None, "no recording"
    elif case == "silence":
        source, expected = tmp_path / "silence.wav", "silent"
        sf.write(source, np.zeros(16000 * 5, dtype=np.float32), 16000)
    elif case == "text file":
        source, expected = tmp_path / "story.txt", "not in a supported audio format"
        source.write_text("Once upon a time I was somewhere else entirely.\n")
    else:
        source, expected = tmp_path / "short.wav", "speech"
        sf.write(source, synthetic_speech(1.0), 16000)  # less than the 2 s of speech a verdict needs
    verdict, probability, card, panels, timeline, features = _callback(demo)(None if source is None else str(source), "ensemble")
    assert verdict.startswith(app.ERROR_TITLE) and expected in verdict and "Traceback" not in verdict
    assert probability is None and card == "" and panels == "" and timeline is None and features is None


def _new_recording(demo):
    return next(f.fn for f in demo.fns.values() if f.fn.__name__ == "new_recording")


def test_a_new_recording_clears_the_last_result_and_a_non_audio_file_is_refused_on_upload(demo, tmp_path):
    app = load_app("app_new_recording")
    fake = tmp_path / "story.wav"
    fake.write_text("this is text, not a WAV file\n")
    outputs = _new_recording(demo)(str(fake))
    assert outputs[0].startswith(app.ERROR_TITLE) and "story.wav is not in a supported audio format" in outputs[0]
    assert outputs[1:] == (None, "", "", None, None)
    outputs = _new_recording(demo)(str(EXAMPLE))
    assert outputs == (app.NEW_RECORDING, None, "", "", None, None)
    assert _new_recording(demo)(None) == (app.NO_RESULT, None, "", "", None, None)
    # Wired to every change of the recording (upload, example, microphone, clear), onto all the result outputs.
    dependency = next(d for d in demo.config["dependencies"]
                      if demo.fns[d["id"]].fn.__name__ == "new_recording")
    audio = _component(demo, "audio")
    assert [t[1] for t in dependency["targets"]] == ["change"] and dependency["targets"][0][0] == audio._id
    assert len(dependency["outputs"]) == 6


def test_changing_the_variant_reanalyses_only_when_there_is_audio(demo):
    reanalyze = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "reanalyze")
    skipped = reanalyze(None, "prosody")
    assert skipped == gr.skip()
    verdict = reanalyze(str(EXAMPLE), "prosody")[0]
    assert "with **prosody**" in verdict


def test_main_serves_on_loopback_7860_by_default_and_passes_share(launches, monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    module = load_app("app_main_check")
    assert module.main(["--weights", str(WEIGHTS), "--share"]) == 0
    (demo, kwargs), = launches
    assert isinstance(demo, gr.Blocks)
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["server_port"] == 7860 and kwargs["share"] is True
    args = module.build_parser().parse_args([])
    assert (args.host, args.port, args.share, args.weights) == ("127.0.0.1", 7860, False, str(module.DEFAULT_WEIGHTS))


def test_server_defaults_loopback_no_share_caps_and_a_bounded_queue(launches, monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_DEFAULT_CONCURRENCY_LIMIT", raising=False)
    module = load_app("app_defaults_check")
    made = []
    monkeypatch.setattr(module, "Detector", lambda *args, **kwargs: made.append(kwargs) or Detector(*args, **kwargs))
    assert module.main(["--weights", str(WEIGHTS)]) == 0
    (demo, kwargs), = launches
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False  # a public link only with --share
    assert kwargs["max_file_size"] == module.MAX_FILE_MB * 1_000_000  # Gradio's upload route refuses bigger files
    assert demo._queue.default_concurrency_limit == module.CONCURRENCY == 2
    assert demo._queue.max_size == module.QUEUE_SIZE
    # Every event that analyses audio (a click, a variant switch, the end of a live take, a live update, the
    # compare tab, the downloads) draws on the one pool of --concurrency workers.
    heavy = ("analyze", "reanalyze", "live_update", "compare", "make_downloads")
    analysing = [fn for fn in demo.fns.values() if fn.fn.__name__ in heavy]
    assert sorted({fn.fn.__name__ for fn in analysing}) == sorted(heavy)
    assert all(fn.queue and fn.concurrency_id == module.ANALYSES for fn in analysing)
    config = made[0]["audio_config"]  # the library checks the same caps on the server, whatever the upload route did
    assert config.max_duration_s == 15 * 60 and config.max_bytes == module.MAX_FILE_MB * 1_000_000
    assert demo.delete_cache == (module.KEEP_UPLOADS_S, module.KEEP_UPLOADS_S)  # uploads do not pile up on disk
    assert "at most\n15 minutes and 100 MB" in _component_with(demo, "truthful or deceptive").value


def test_spaces_host_comes_from_the_environment_only_when_set(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert load_app("app_spaces_host").build_parser().parse_args([]).host == "0.0.0.0"


def _component_with(demo, text: str):
    return next(block for block in demo.blocks.values() if text in str(getattr(block, "value", "")))


def test_caps_are_enforced_by_the_server_not_only_the_page(launches, tmp_path):
    """--max-minutes and --max-file-mb reach the analysis: a file handed straight to the callback is refused."""
    module = load_app("app_caps_check")
    assert module.main(["--weights", str(WEIGHTS), "--max-minutes", "0.5", "--max-file-mb", "1.5", "--concurrency", "1"]) == 0
    (demo, kwargs), = launches
    assert kwargs["max_file_size"] == 1_500_000 and demo._queue.default_concurrency_limit == 1
    assert "at most\n0.5 minutes and 1.5 MB" in _component_with(demo, "truthful or deceptive").value
    long_story = tmp_path / "long.wav"
    sf.write(long_story, synthetic_speech(40.0), 16000)  # 1.3 MB: under the size cap, over the duration cap
    verdict = _callback(demo)(str(long_story), "prosody")[0]
    assert verdict.startswith(module.ERROR_TITLE) and "the limit is 30.0 s" in verdict
    big = tmp_path / "big.wav"
    sf.write(big, synthetic_speech(25.0, sample_rate=48000), 48000)  # 2.4 MB: under the duration cap, over the size cap
    verdict = _callback(demo)(str(big), "prosody")[0]
    assert verdict.startswith(module.ERROR_TITLE) and "too large" in verdict


@pytest.mark.parametrize("flags", [["--max-file-mb", "0"], ["--max-minutes", "-1"], ["--max-minutes", "nan"],
                                   ["--concurrency", "0"], ["--concurrency", "two"]])
def test_bad_limits_are_refused_before_anything_loads(launches, flags, capsys):
    with pytest.raises(SystemExit) as exited:
        load_app("app_bad_flags").main(["--weights", str(WEIGHTS), *flags])
    assert exited.value.code == 2 and flags[1] in capsys.readouterr().err
    assert launches == []


@pytest.mark.parametrize("damage", ["tampered", "truncated", "pickle"])
def test_server_refuses_to_start_on_tampered_or_unsafe_weights(launches, tmp_path, capsys, damage):
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS, folder)
    path = folder / "prosody.onnx"  # what the server runs
    if damage == "tampered":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        expected = "does not match the sha256"
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        expected = "does not match the sha256"
    else:  # a card that points at a pickle, with that pickle's correct sha256: still never loaded
        pickle_path = folder / "prosody.pt"
        pickle_path.write_bytes(b"\x80\x04\x95 not loaded: a pickle can run code")
        card = json.loads((folder / "prosody.json").read_text())
        card["onnx"].update(file=pickle_path.name, sha256=hashlib.sha256(pickle_path.read_bytes()).hexdigest())
        (folder / "prosody.json").write_text(json.dumps(card))
        expected = "only .onnx files are read here"
    assert load_app(f"app_weights_{damage}").main(["--weights", str(folder)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert launches == []


def test_main_refuses_a_missing_weights_folder_without_launching(launches, tmp_path, capsys):
    module = load_app("app_bad_weights")
    assert module.main(["--weights", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert launches == []


def test_deceptio_app_subcommand_runs_app_main_with_the_same_flags(launches):
    assert cli.main(["app", "--host", "127.0.0.2", "--port", "7999", "--weights", str(WEIGHTS)]) == 0
    (_, kwargs), = launches
    assert (kwargs["server_name"], kwargs["server_port"], kwargs["share"]) == ("127.0.0.2", 7999, False)


def test_hub_weights_that_cannot_be_fetched_fall_back_to_local_weights_on_the_page(launches, monkeypatch, tmp_path, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    module = load_app("app_hub_fallback")
    monkeypatch.setattr(module, "DEFAULT_WEIGHTS", WEIGHTS)
    uri = "hf://deceptio-tests/weights@" + "a" * 40
    assert module.main(["--weights", uri]) == 0
    assert "warning: could not use the Hub weights" in capsys.readouterr().err
    (demo, _), = launches
    note = _component(demo, "weights-note").value
    assert "fallback" in note and uri in note


def test_hub_weights_from_an_offline_cache_are_served(launches, monkeypatch, tmp_path):
    from huggingface_hub import constants
    from test_hub import COMMIT, REPO_ID, fill_cache

    cache = tmp_path / "hub"
    snapshot = fill_cache(cache, WEIGHTS)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    module = load_app("app_hub")
    uri = f"hf://{REPO_ID}@{COMMIT}"
    assert module.main(["--weights", uri]) == 0
    (demo, _), = launches
    note = _component(demo, "weights-note").value
    assert uri in note and "fallback" not in note
    analyze = _callback(demo)
    assert re.match(r"## (Verdict|Lean): ", analyze(str(EXAMPLE), "lsf_lpc")[0])
    assert snapshot.is_dir()


def test_readme_runs_as_a_space_and_shows_the_app():
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    fields = dict(line.split(": ", 1) for line in front.splitlines())
    assert fields["sdk"] == "gradio" and fields["sdk_version"] == gr.__version__
    assert fields["app_file"] == "app.py" and (REPO / fields["app_file"]).is_file()
    assert fields["python_version"] == '"3.11"' and fields["pinned"] == "false"
    lines = [line for line in body.splitlines() if line.strip()]
    assert lines[0] == "# deceptio" and "```bash" in lines[:4]  # the two commands still come first
    assert "## App" in body and "](assets/screenshot.png)" in body
    screenshot = (REPO / "assets" / "screenshot.png").read_bytes()
    assert screenshot.startswith(b"\x89PNG") and len(screenshot) > 50_000


def test_the_compare_tab_analyses_both_recordings_and_keeps_a_refusal_on_the_page(demo, tmp_path):
    app = load_app("app_compare")
    compare = _callback(demo, "compare")
    statement = REPO / "assets" / "synthetic_statement_female.ogg"
    reading, timeline_a, timeline_b, features_a, features_b = compare(str(EXAMPLE), str(statement), "prosody")
    assert reading.startswith("### The statement against the speaker's own baseline") and "within-speaker AUC" in reading
    assert all(isinstance(figure, Figure) for figure in (timeline_a, timeline_b, features_a, features_b))
    reading, *figures = compare(None, str(statement), "prosody")
    assert reading.startswith(app.ERROR_TITLE) and "baseline" in reading and figures == [None] * 4
