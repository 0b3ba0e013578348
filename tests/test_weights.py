from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from deceptio.errors import WeightsError
from deceptio.modeling.models import ModelConfig, create_model
from deceptio.modeling.card import ModelInput, checked_onnx_path, load_card
from deceptio.modeling.weights import load_model, save_variant

PACKAGE = Path(__file__).resolve().parent.parent / "deceptio"


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = create_model(ModelConfig(width=4)).eval()
    inputs = ModelInput(layout=("f0", "contrast", "centroid"))
    save_variant(model, {"variant": "prosody", "description": "test", "input": inputs.to_dict()}, tmp_path)
    return tmp_path, model


def test_round_trip_gives_the_same_outputs(saved):
    folder, model = saved
    card = load_card(folder, "prosody")
    loaded = load_model(folder, card)
    x = torch.randn(2, 1, 79, 400)
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded(x))
    assert len(card["sha256"]) == 64 and card["model_config"]["width"] == 4


def test_the_onnx_graph_computes_what_the_model_computes_and_is_checked(saved):
    import numpy as np

    from deceptio.modeling.models import as_network
    from deceptio.serving.onnx import OnnxNetwork

    folder, model = saved
    card = load_card(folder, "prosody")
    network = OnnxNetwork(checked_onnx_path(folder, card))
    for frames in (400, 900):  # any number of frames
        x = np.random.default_rng(frames).standard_normal((3, 1, 79, frames)).astype(np.float32)
        logits, cam = network(x)
        reference, reference_cam = as_network(model)(x)
        np.testing.assert_allclose(logits, reference, atol=1e-5)
        np.testing.assert_allclose(cam, reference_cam, atol=1e-5)
    path = folder / card["onnx"]["file"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="does not match the sha256"):
        checked_onnx_path(folder, card)


def test_tampered_weights_are_refused(saved):
    folder, _ = saved
    path = folder / "prosody.safetensors"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model(folder, load_card(folder, "prosody"))


def test_truncated_weights_are_refused(saved):
    folder, _ = saved
    path = folder / "prosody.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError):
        load_model(folder, load_card(folder, "prosody"))


def test_weights_that_do_not_fit_the_card_are_refused(saved):
    folder, _ = saved
    card = load_card(folder, "prosody")
    card["model_config"]["width"] = 8
    with pytest.raises(WeightsError, match="does not fit"):
        load_model(folder, card)


def test_missing_or_broken_cards(tmp_path):
    with pytest.raises(WeightsError, match="no model card"):
        load_card(tmp_path, "prosody")
    (tmp_path / "prosody.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_card(tmp_path, "prosody")
    (tmp_path / "prosody.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(WeightsError):
        load_card(tmp_path, "prosody")


def test_no_pickle_loading_path_exists():
    for source in PACKAGE.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib") for n in names), source
            if isinstance(node, ast.Attribute) and node.attr == "load" and getattr(node.value, "id", "") == "torch":
                pytest.fail(f"{source} calls torch.load")
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert getattr(node.value, "value", None) is False, source
