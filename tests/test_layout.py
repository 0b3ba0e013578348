"""The package's shape: what each layer may import, and the card as the one source of every input setting."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, WEIGHTS, synthetic_speech
from deceptio.errors import WeightsError

_SERVE = """
import sys
import numpy as np
from deceptio.synthetic import synthetic_speech
import deceptio.serving.batch, deceptio.serving.hub, deceptio.serving.page, deceptio.serving.plots
from deceptio.serving.detector import Detector
from deceptio.serving.page import analyze_for_page
detector = Detector({weights!r})
result = analyze_for_page(detector, (16000, synthetic_speech(12.0)), "ensemble")
assert result.analysis.verdict in ("truthful", "deceptive", "inconclusive")
detector.saliency(result.analysis)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("deceptio", "tqdm", "sklearn", "gradio", "torch", "torchvision"))
print(" ".join(loaded))
"""


def _modules_after(code: str, env: dict | None = None) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.slow
def test_serving_imports_no_torch_no_training_module_no_tqdm_no_sklearn_and_no_web_page(tmp_path):
    """Analysing a recording, its saliency and the page's outputs, in a fresh interpreter, with ONNX Runtime.

    ...and ONNX Runtime reports nothing: its telemetry would leave a device id in ``$TMPDIR``."""
    import os

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    loaded = _modules_after(_SERVE.format(weights=str(WEIGHTS)), env=env)
    assert "deceptio.serving.detector" in loaded and "deceptio.serving.onnx" in loaded
    assert not {name for name in loaded if name.startswith("deceptio.training")}, loaded
    assert not {name for name in loaded if name.split(".")[0] in ("torch", "torchvision", "tqdm", "sklearn", "gradio")}, loaded
    assert "deceptio.modeling.models" not in loaded and "deceptio.modeling.weights" not in loaded
    assert list(tmp_path.iterdir()) == []


def _module_level_imports(path) -> set[str]:
    import ast

    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ["serving", "modeling", "audio", "features"])
def test_no_module_of_the_serving_layers_imports_training_tqdm_sklearn_or_a_web_page(layer):
    """At module level. (modeling/models.py and weights.py are torch: what training and export use; serving never imports them.)"""
    for path in sorted((REPO / "deceptio" / layer).glob("*.py")):
        imported = _module_level_imports(path)
        bad = {name for name in imported if name.split(".")[0] in ("tqdm", "sklearn", "gradio") or name.startswith("deceptio.training")}
        assert not bad, f"{path.name} imports {bad}"
        torch_side = layer == "modeling" and path.name in ("models.py", "weights.py")
        if not torch_side:
            assert not {name for name in imported if name.split(".")[0] in ("torch", "safetensors")}, path.name
            assert not {"deceptio.modeling.models", "deceptio.modeling.weights"} & imported, path.name


def test_features_and_audio_import_no_torch():
    code = ("import sys, deceptio.audio, deceptio.features, deceptio.modeling.card, deceptio.cli; "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'gradio')))")
    assert _modules_after(code) == set()


def test_the_library_imports_no_web_page():
    code = ("import sys, pkgutil, importlib, deceptio\n"
            "for m in pkgutil.walk_packages(deceptio.__path__, 'deceptio.'): importlib.import_module(m.name)\n"
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('gradio', 'gradio_client')))")
    assert _modules_after(code) == set()


def _copy_of_weights(tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    return copy


def _edit_card(folder, name, edit):
    path = folder / f"{name}.json"
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda card: card["input"]["images"].update(f0_bins=40), r"image 'f0' was 48 rows .* images\.f0_bins in the card gives 40"),
        (lambda card: card["input"]["features"].update(n_mels=40), r"image 'spectrogram' was 64 rows .* features\.n_mels"),
        (lambda card: card["input"]["images"].update(wobble=1), r"input\.images: unknown ImageConfig keys \['wobble'\]"),
        (lambda card: card["input"]["vad"].update(floor_db=10), r"input\.vad: VADConfig\.floor_db=10 must be"),
        (lambda card: card["input"]["layout"].append({"name": "formants", "rows": 3}), r"cannot draw: \['formants'\]"),
        (lambda card: card["calibration"].update(temperature=0), r"calibration: Calibration\.temperature=0 must be"),
    ],
)
def test_a_card_whose_settings_this_code_cannot_honour_is_refused_naming_the_setting(tmp_path, edit, message):
    from deceptio.serving.detector import Detector

    folder = _copy_of_weights(tmp_path)
    _edit_card(folder, "spec_prosody", edit)
    with pytest.raises(WeightsError, match=message):
        Detector(folder, variants=("spec_prosody",))


def test_the_detector_reads_the_vad_and_windows_from_the_card_not_from_code(tmp_path):
    """The same recording, a card with another VAD threshold and window hop: other speech frames, other windows."""
    from deceptio.serving.detector import Detector

    folder = _copy_of_weights(tmp_path)
    _edit_card(folder, "prosody", lambda card: (card["input"]["vad"].update(floor_db=-20.0),
                                                 card["input"]["window"].update(hop_frames=100)))
    audio = (16000, synthetic_speech(30.0, seed=3))
    shipped = Detector(WEIGHTS, variants=("prosody",)).analyze(audio, variant="prosody")
    edited = Detector(folder, variants=("prosody",)).analyze(audio, variant="prosody")
    assert edited.speech.sum() < shipped.speech.sum()  # a higher floor keeps fewer frames
    assert np.diff([w.start for w in edited.windows[:3]]).min() < np.diff([w.start for w in shipped.windows[:3]]).min()


def test_the_cards_in_a_folder_say_what_it_serves():
    from deceptio.errors import UnknownVariantError
    from deceptio.serving.detector import Detector

    with pytest.raises(UnknownVariantError, match=r"no card for variant 'magic' in .*; it has: ensemble, lsf_lpc, prosody"):
        Detector(WEIGHTS, variants=("magic",))
