from __future__ import annotations

import numpy as np
import pytest
import torch

from deceptio.errors import ParameterError, UnknownVariantError
from deceptio.models import ModelConfig, create_model
from deceptio.variants import MODEL_VARIANTS, VARIANTS, get_variant


@pytest.mark.parametrize("name", MODEL_VARIANTS)
def test_every_variant_forward_pass(name):
    variant = get_variant(name)
    torch.manual_seed(0)
    model = create_model(ModelConfig()).eval()
    x = torch.randn(3, 1, variant.n_rows, 400)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (3,)
    assert torch.isfinite(y).all()


def test_registry_holds_the_seed_feature_sets_and_the_ensemble():
    assert set(VARIANTS) == {"spec_mfcc", "lsf_lpc", "spec_prosody", "prosody", "ensemble"}
    assert get_variant("ensemble").members == MODEL_VARIANTS
    assert get_variant("spec_mfcc").images == ("spectrogram", "mfcc")


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(UnknownVariantError, match="spec_mfcc"):
        get_variant("resnet_magic")


def test_model_is_small_enough_to_ship():
    model = create_model(ModelConfig())
    megabytes = sum(p.numel() for p in model.state_dict().values()) * 4 / 1e6
    assert megabytes <= 12


def test_model_is_torchvision_resnet_with_configured_width():
    from torchvision.models.resnet import BasicBlock, ResNet

    model = create_model(ModelConfig(width=8, in_channels=2, layers=(1, 2, 1, 1)))
    assert isinstance(model, ResNet)
    assert model.conv1.in_channels == 2 and model.conv1.out_channels == 8
    assert isinstance(model.layer2[1], BasicBlock) and model.layer4[0].conv1.out_channels == 64
    assert model(torch.randn(2, 2, 40, 100)).shape == (2,)


@pytest.mark.parametrize("bad", [{"width": 2}, {"layers": (1, 1, 1)}, {"dropout": 1.0}, {"time_pool": 0}])
def test_bad_model_config_is_refused(bad):
    with pytest.raises(ParameterError):
        ModelConfig(**bad)


def test_model_config_round_trips_and_refuses_unknown_keys():
    config = ModelConfig(width=12)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="depth"):
        ModelConfig.from_dict({**config.to_dict(), "depth": 3})


def test_training_reduces_loss_on_a_learnable_task(rng):
    from deceptio.train import TrainConfig, fit, window_logits

    # Class 1 images carry a bright band in their upper rows: a net that learns must rank them higher.
    images, labels = [], []
    for i in range(24):
        image = rng.standard_normal((20, 450)).astype(np.float32)
        label = i % 2
        if label:
            image[:5] += 1.5
        images.append(image)
        labels.append(label)
    model = fit(images, np.array(labels), ["F", "M"] * 12, model_config=ModelConfig(width=8),
                train_config=TrainConfig(epochs=6, freq_mask=0, time_mask=0), seed=0)
    scores = [window_logits(model, image, window=400, hop=200)[0].mean() for image in images]
    from deceptio.metrics import roc_auc

    assert roc_auc(np.array(labels), np.array(scores)) > 0.9


def test_fused_model_gives_the_same_logits():
    from deceptio.models import fuse_for_inference

    torch.manual_seed(0)
    model = create_model(ModelConfig(width=8)).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(4, 1, 64, 400)
    with torch.inference_mode():
        assert torch.allclose(fuse_for_inference(model)(x), model(x), atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fuse_for_inference(model).modules())
