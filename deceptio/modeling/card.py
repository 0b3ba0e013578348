"""What a model card pins: every setting a variant's input depends on, and its calibration.

A card is the source of truth for serving (the pattern of timm's
``pretrained_cfg`` and nanoGPT's ``model_args``): the Detector builds the
features, the speech mask, the images and the windows from the card's
:class:`ModelInput`, never from defaults in code, and refuses a card whose
settings this code cannot honour, naming the setting. Caller limits (longest
recording, largest file) stay the caller's.

Card layout (format ``deceptio-card-2``)::

    {"format": "deceptio-card-2", "variant": ..., "description": ...,
     "input": {"features": {...}, "vad": {...}, "images": {...}, "window": {...},
               "layout": [{"name": "spectrogram", "rows": 64}, ...], "rows": 152},
     "calibration": {"temperature": 1.7, "inconclusive_band": 0.1},
     "model_config": {...}, "train_config": {...}, "file": ..., "sha256": ...,
     "onnx": {"file": "<variant>.onnx", "sha256": ..., "opset": 17},
     "training_data": {...}, "cv": {...}, "baselines": {...}, "protocol": {...}}

An ensemble's card has ``members`` and ``calibration`` (its band) only.
Cards of format 1 are upgraded as they are read (:func:`upgrade_card`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from deceptio import jsonutil

from deceptio.audio.vad import VADConfig
from deceptio.errors import DeceptioError, WeightsError
from deceptio.features import FeatureConfig
from deceptio.features.config import LEGACY_FEATURES
from deceptio.modeling.images import IMAGE_NAMES, ImageConfig, WindowConfig, image_rows
from deceptio.settings import Settings, setting

__all__ = ["CARD_FORMAT", "INCONCLUSIVE_BAND", "Calibration", "ModelInput", "calibration_of", "upgrade_card",
           "sha256_of", "save_card", "load_card", "available_cards", "checked_weights_path", "checked_onnx_path", "input_of"]

CARD_FORMAT = "deceptio-card-2"
INCONCLUSIVE_BAND = 0.1  # |p − 0.5| below this is "inconclusive": the CV figures do not support finer calls

# Which settings set the rows of each image, for messages about a card whose rows do not add up.
_ROWS_FROM = {
    "spectrogram": "features.n_mels", "mfcc": "features.n_mfcc", "lpc": "features.lpc_order",
    "contrast": "features.n_contrast_bands", "lsf": "images.lsf_bins", "f0": "images.f0_bins",
    "centroid": "images.centroid_bins",
}


@dataclass(frozen=True)
class Calibration(Settings):
    """How a variant's mean window logit becomes a verdict."""

    temperature: float = setting(1.0, gt=0)  # p = sigmoid(logit / temperature); 1 for an ensemble, which averages calibrated p
    inconclusive_band: float = setting(INCONCLUSIVE_BAND, ge=0, lt=0.5)  # |p − 0.5| below this is "inconclusive"


@dataclass(frozen=True)
class ModelInput:
    """Everything that shapes what a variant's network reads, as its card records it.

    Attributes
    ----------
    features : FeatureConfig
    vad : VADConfig
        Chooses the frames the images are built from.
    images : ImageConfig
    window : WindowConfig
    layout : tuple of str
        Images stacked top to bottom into the network's one input channel.
    """

    features: FeatureConfig = FeatureConfig()
    vad: VADConfig = VADConfig()
    images: ImageConfig = ImageConfig()
    window: WindowConfig = WindowConfig()
    layout: tuple[str, ...] = ()  # training holds one ModelInput for all variants and gives each its layout

    def for_layout(self, layout: tuple[str, ...]) -> "ModelInput":
        """The same settings reading the images ``layout``."""
        return replace(self, layout=tuple(layout))

    def rows(self) -> dict[str, int]:
        """Rows of each image of the layout under these settings."""
        return {name: image_rows(name, self.features, self.images) for name in self.layout}

    def to_dict(self) -> dict:
        rows = self.rows()
        return {
            "features": self.features.to_dict(),
            "vad": self.vad.to_dict(),
            "images": self.images.to_dict(),
            "window": self.window.to_dict(),
            "layout": [{"name": name, "rows": n} for name, n in rows.items()],
            "rows": sum(rows.values()),
        }

    def same_recording_pass(self, other: "ModelInput") -> bool:
        """Whether one feature pass, speech mask and set of images serves both (each network cuts its own windows)."""
        return (self.features, self.vad, self.images) == (other.features, other.vad, other.images)

    @classmethod
    def from_settings(cls, block: dict, *, where: str = "settings") -> "ModelInput":
        """The four configs of a card's ``input`` (or a report's ``input_config``), no layout; missing ones take defaults.

        A feature setting the block does not name was written before that
        setting existed: it takes the value the block was computed with
        (:data:`~deceptio.features.config.LEGACY_FEATURES`), not today's default.
        """
        parts = {}
        for key, kind in (("features", FeatureConfig), ("vad", VADConfig), ("images", ImageConfig), ("window", WindowConfig)):
            values = block.get(key, {})
            if key == "features" and isinstance(values, dict):
                values = {**LEGACY_FEATURES, **values}
            try:
                parts[key] = kind.from_dict(values)
            except DeceptioError as error:
                raise WeightsError(f"{where}: input.{key}: {error}") from None
        return cls(**parts)

    @classmethod
    def from_card(cls, card: dict) -> "ModelInput":
        """Read and check a card's ``input``; :class:`WeightsError` naming the setting this code cannot honour."""
        where = f"card {card.get('variant')!r}"
        block = card.get("input")
        if not isinstance(block, dict):
            raise WeightsError(f"{where} has no 'input' settings")
        settings = cls.from_settings(block, where=where)
        layout = block.get("layout")
        if not isinstance(layout, list) or not layout or not all(isinstance(item, dict) and "name" in item for item in layout):
            raise WeightsError(f"{where}: input.layout must list the images the model reads, e.g. [{{'name': 'f0', 'rows': 48}}]")
        unknown = [item["name"] for item in layout if item["name"] not in IMAGE_NAMES]
        if unknown:
            raise WeightsError(f"{where}: input.layout names images this version cannot draw: {unknown}; "
                               f"known: {', '.join(IMAGE_NAMES)}")
        model_input = settings.for_layout(tuple(item["name"] for item in layout))
        rows = model_input.rows()
        for item in layout:
            if item.get("rows") != rows[item["name"]]:
                raise WeightsError(
                    f"{where}: image {item['name']!r} was {item.get('rows')} rows when the model was trained, but "
                    f"{_ROWS_FROM[item['name']]} in the card gives {rows[item['name']]}: the card's settings were "
                    "changed after training; retrain or restore them")
        if block.get("rows") != sum(rows.values()):
            raise WeightsError(f"{where}: input.rows={block.get('rows')!r} is not the sum of the layout's rows "
                               f"({sum(rows.values())})")
        return model_input


def calibration_of(card: dict) -> Calibration:
    """A card's calibration, checked; :class:`WeightsError` naming the bad setting."""
    try:
        return Calibration.from_dict(card.get("calibration", {}))
    except DeceptioError as error:
        raise WeightsError(f"card {card.get('variant')!r}: calibration: {error}") from None



def upgrade_card(card: dict) -> dict:
    """A format-1 card in the format-2 layout; other cards unchanged.

    Format 1 kept the features under ``feature_config``, the VAD inside the
    caller's ``audio_config``, the window in ``train_config``, and drew its
    images with the geometry that is :class:`ImageConfig`'s default.
    """
    if card.get("format") != "deceptio-card-1":
        return card
    old = dict(card)
    new = {key: value for key, value in old.items()
           if key not in ("feature_config", "audio_config", "images", "input_rows", "temperature", "inconclusive_band")}
    new["format"] = CARD_FORMAT
    new["calibration"] = {"inconclusive_band": old.get("inconclusive_band", INCONCLUSIVE_BAND)}
    if old.get("members"):
        return new
    train = dict(old.get("train_config", {}))
    window = {key: train.pop(key) for key in ("window_frames", "hop_frames") if key in train}
    audio = old.get("audio_config", {})
    new["calibration"]["temperature"] = old.get("temperature")
    new["train_config"] = train
    new["input"] = {
        "features": old.get("feature_config", {}),
        "vad": {key[len("vad_"):]: value for key, value in audio.items() if key.startswith("vad_")},
        "images": ImageConfig().to_dict(),
        "window": window,
        "layout": old.get("images", []),
        "rows": old.get("input_rows"),
    }
    return new


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks."""
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


def load_card(directory: Path, name: str) -> dict:
    """Read and sanity-check ``<name>.json`` (a format-1 card comes back upgraded); :class:`WeightsError` if absent or malformed."""
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise WeightsError(f"no model card {path}: train the variant or point --weights at a folder that has it")
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"model card {path.name} is not valid JSON ({error})") from None
    card = upgrade_card(card) if isinstance(card, dict) else card
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT or card.get("variant") != name:
        raise WeightsError(f"model card {path.name} is not a {CARD_FORMAT} card for variant {name!r}")
    return card


def _checked(directory: Path, name: str, file: str | None, sha256: str | None, suffix: str, remedy: str) -> Path:
    path = Path(directory) / (file or f"{name}{suffix}")
    if path.suffix != suffix:
        raise WeightsError(f"card {name}.json names {path.name}: only {suffix} files are read here")
    if not path.is_file():
        raise WeightsError(f"{path.name} is missing beside its card {name}.json in {Path(directory)}{remedy}")
    if sha256_of(path) != sha256:
        raise WeightsError(f"{path.name} does not match the sha256 in its card: the file was changed or truncated")
    return path


def checked_weights_path(directory: Path, card: dict) -> Path:
    """The card's weights file, once it is known to be safetensors, present and unchanged (sha256)."""
    return _checked(directory, card["variant"], card.get("file"), card.get("sha256"), ".safetensors", "")


def checked_onnx_path(directory: Path, card: dict) -> Path:
    """The card's ONNX graph (what serving runs), once it is present and unchanged (sha256)."""
    onnx = card.get("onnx") or {}
    return _checked(directory, card["variant"], onnx.get("file"), onnx.get("sha256"), ".onnx",
                    "; export it from the safetensors with `deceptio export --weights DIR`")


def available_cards(directory: Path) -> list[str]:
    """Names of the cards in a folder, sorted."""
    return sorted(path.stem for path in Path(directory).glob("*.json"))


def input_of(directory: Path, variant: str) -> ModelInput:
    """The input settings of ``variant``'s card (an ensemble's: its first member's), without loading any weights."""
    card = load_card(directory, variant)
    if card.get("members"):
        card = load_card(directory, card["members"][0])
    return ModelInput.from_card(card)
