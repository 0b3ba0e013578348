"""Model weights as safetensors: written beside their card, read back only after the card's sha256 matches."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from deceptio.errors import WeightsError
from deceptio.modeling.card import CARD_FORMAT, ModelInput, checked_weights_path, save_card, sha256_of
from deceptio.modeling.models import ModelConfig, SlimResNet, create_model, export_onnx

__all__ = ["save_variant", "load_model", "export_variant"]


def save_variant(model: SlimResNet, card: dict, directory: Path) -> Path:
    """Write ``<variant>.safetensors``, the ONNX graph serving runs (``<variant>.onnx``) and the card holding both sha256s."""
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
    return save_card(export_variant(model, card, directory), directory)


def export_variant(model: SlimResNet, card: dict, directory: Path) -> dict:
    """Write ``<variant>.onnx`` for serving and return the card with its file and sha256 (the card is not saved)."""
    model_input = ModelInput.from_card(card)
    path = export_onnx(model, Path(directory) / f"{card['variant']}.onnx", rows=sum(model_input.rows().values()),
                       window=model_input.window.window_frames)
    return {**card, "onnx": {"file": path.name, "sha256": sha256_of(path), "opset": 17}}


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
