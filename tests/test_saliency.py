from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import WEIGHTS
from deceptio.errors import ParameterError
from deceptio.modeling.models import ModelConfig, as_network, create_model, fuse_for_inference
from deceptio.modeling.saliency import image_saliency, upsample
from deceptio.training.gradcam import grad_cam


def _bright_band_model():
    """A net trained in a few steps to call images with a bright upper band 'deceptive'."""
    from deceptio.training.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(24):
        image = rng.standard_normal((128, 420)).astype(np.float32) * 0.5
        if i % 2:
            image[:32] += 2.0
        images.append(image)
        labels.append(i % 2)
    return fit(images, np.array(labels), ["F"] * 24, model_config=ModelConfig(width=8, dropout=0.0),
               train_config=TrainConfig(epochs=8, freq_mask=0, time_mask=0), seed=0)


def _trained_looking(width: int):
    """A random model whose BatchNorms have non-trivial statistics and scales, so folding them matters."""
    torch.manual_seed(0)
    model = create_model(ModelConfig(width=width))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("width", [4, 8, 16])
def test_the_cam_decomposes_the_logit_exactly_on_the_scoring_copy(width):
    """logit = mean(cam) + bias, on the folded copy (the width-4 copy's backward hung on an AVX2 EPYC)."""
    model = _trained_looking(width)
    scoring = fuse_for_inference(model)
    x = torch.randn(3, 1, 152, 400)
    logits, cam = scoring.forward_cam(x)
    assert cam.shape[0] == 3 and cam.ndim == 3
    assert torch.allclose(logits, scoring(x), atol=1e-5)
    assert torch.allclose(logits, model(x), atol=1e-4)
    assert torch.allclose(cam.mean(dim=(1, 2)) + scoring.fc[-1].bias, logits, atol=1e-6)
    maps = upsample(cam.numpy(), 152, 400)
    assert maps.shape == (3, 152, 400) and np.isfinite(maps).all()
    torch_maps = torch.nn.functional.interpolate(cam.unsqueeze(1), size=(152, 400), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(maps, torch_maps.numpy(), atol=1e-5)  # the numpy upsampling is torch's
    assert (maps < 0).any() and (maps > 0).any()  # signed: regions lower as well as raise p(deceptive)


def test_the_scoring_copies_refuse_gradients():
    model = _trained_looking(4)
    scoring = fuse_for_inference(model)
    assert scoring.scoring_only and not model.scoring_only
    assert not any(p.requires_grad for p in scoring.parameters())
    x = torch.randn(2, 1, 152, 400, requires_grad=True)  # even an input that asks for a graph gets none
    out = scoring(x)
    assert out.grad_fn is None and not out.requires_grad
    with pytest.raises(RuntimeError):
        out.sum().backward()
    with pytest.raises(RuntimeError):
        torch.autograd.grad(scoring.forward_cam(x)[0].sum(), x)
    with pytest.raises(ParameterError, match="scoring copy"):
        grad_cam(scoring, x.detach())


def test_the_detector_scores_with_onnx_graphs_that_match_the_torch_models():
    from deceptio.modeling.card import load_card
    from deceptio.modeling.weights import load_model
    from deceptio.serving.detector import Detector
    from deceptio.serving.onnx import OnnxNetwork

    detector = Detector(WEIGHTS)
    windows = np.random.default_rng(0).standard_normal((3, 1, 152, 400)).astype(np.float32)
    for name, loaded in detector._models.items():
        assert isinstance(loaded.model, OnnxNetwork)
        rows = sum(loaded.input.rows().values())
        x = windows[:, :, :rows]
        logits, cam = loaded.model(x)
        reference, reference_cam = as_network(load_model(WEIGHTS, load_card(WEIGHTS, name)))(x)
        np.testing.assert_allclose(logits, reference, atol=1e-4)
        np.testing.assert_allclose(cam, reference_cam, atol=1e-4)


def test_grad_cam_of_a_differentiable_model_has_the_input_shape_and_is_nonnegative():
    torch.manual_seed(0)
    model = create_model(ModelConfig(width=8)).eval()
    maps = grad_cam(model, torch.randn(3, 1, 40, 400))
    assert maps.shape == (3, 40, 400) and (maps >= 0).all() and np.isfinite(maps).all()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("fused", [False, True])
def test_saliency_points_at_the_evidence(fused):
    model = _bright_band_model()
    network = as_network(fuse_for_inference(model) if fused else model)
    image = np.random.default_rng(1).standard_normal((128, 800)).astype(np.float32) * 0.5
    image[:32] += 2.0  # the last stage sees 128 rows as 4 cells: the band fills the top one
    saliency = image_saliency(network, image, window=400, hop=200)
    assert saliency.shape == image.shape
    assert saliency[:32].mean() > saliency[64:].mean()
