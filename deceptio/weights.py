"""Model weights as safetensors beside a JSON card that rebuilds, checks and describes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from deceptio import jsonutil
from deceptio.errors import WeightsError
from deceptio.models import ModelConfig, SlimResNet, create_model

__all__ = ["CARD_FORMAT", "DEFAULT_WEIGHTS", "sha256_of", "save_variant", "save_card", "load_card", "load_model", "available_cards", "checked_weights_path"]

CARD_FORMAT = "deceptio-card-1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_card(card: dict, directory: Path) -> Path:
    """Write ``<variant>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{card['variant']}.json"
    path.write_text(jsonutil.dumps({"format": CARD_FORMAT, **card}) + "\n")
    return path


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


def load_card(directory: Path, name: str) -> dict:
    """Read and sanity-check ``<name>.json``; :class:`WeightsError` if absent or malformed."""
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise WeightsError(f"no model card {path}: train the variant or point --weights at a folder that has it")
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"model card {path.name} is not valid JSON ({error})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT or card.get("variant") != name:
        raise WeightsError(f"model card {path.name} is not a {CARD_FORMAT} card for variant {name!r}")
    return card


def checked_weights_path(directory: Path, card: dict) -> Path:
    """The card's weights file, once it is known to be safetensors, present and unchanged (sha256)."""
    name = card["variant"]
    path = Path(directory) / card.get("file", f"{name}.safetensors")
    if path.suffix != ".safetensors":
        raise WeightsError(f"card {name}.json names {path.name}: only .safetensors weights are loaded")
    if not path.is_file():
        raise WeightsError(f"{path.name} is missing beside its card {name}.json in {Path(directory)}")
    if sha256_of(path) != card.get("sha256"):
        raise WeightsError(f"{path.name} does not match the sha256 in its card: the file was changed or truncated")
    return path


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


def available_cards(directory: Path) -> list[str]:
    """Names of the cards in a folder, sorted."""
    return sorted(path.stem for path in Path(directory).glob("*.json"))

