"""Model weights as safetensors: written beside their card, read back only after the card's sha256 matches."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from deceptio.errors import WeightsError
from deceptio.modeling.card import CARD_FORMAT, checked_weights_path, save_card, sha256_of
from deceptio.modeling.models import ModelConfig, SlimResNet, create_model

__all__ = ["save_variant", "load_model"]


def save_variant(model: SlimResNet, card: dict, directory: Path) -> Path:
    """Write ``<variant>.safetensors`` and its card, the card holding the file's sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    name = card["variant"]
    weights_path = directory / f"{name}.safetensors"
    tensors = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    save_file(tensors, str(weights_path), metadata={"variant": name, "format": CARD_FORMAT})
    card = {
        **card,
        "file": weights_path.name,
        "sha256": sha256_of(weights_path),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "model_config": model.config.to_dict(),
    }
    return save_card(card, directory)


def load_model(directory: Path, card: dict) -> SlimResNet:
    """Rebuild the model a card describes and load its weights, after checking their sha256.

    Only safetensors are read: a weights file can hold numbers, never code.
    """
    path = checked_weights_path(directory, card)
    try:
        tensors = load_file(str(path))
        model = create_model(ModelConfig.from_dict(card["model_config"]))
        model.load_state_dict(tensors, strict=True)
    except (SafetensorError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{path.name} does not fit the model its card describes: {str(error).splitlines()[0]}") from None
    model.eval()
    return model
