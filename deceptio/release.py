"""Trains the shipped variants on a whole corpus and writes their weights and cards."""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict
from pathlib import Path

import numpy as np

from deceptio import __version__
from deceptio.audio import AudioConfig
from deceptio.data import ClipFeatures
from deceptio.errors import WeightsError
from deceptio.evaluate import card_figures, variant_images
from deceptio.features import FeatureConfig
from deceptio.images import IMAGE_ROWS
from deceptio.models import ModelConfig
from deceptio.train import TrainConfig, fit
from deceptio.variants import get_variant
from deceptio.weights import load_card, save_card, save_variant

__all__ = ["release", "refresh_cards", "INCONCLUSIVE_BAND"]

INCONCLUSIVE_BAND = 0.1  # |p − 0.5| below this is "inconclusive": the CV figures do not support finer calls


def _training_data(data: list[ClipFeatures], name: str, report: dict) -> dict:
    return {
        "name": name,
        **report["data"],
        "speech": "subject turns only (other speakers' turns excluded), VAD speech frames",
    }


def release(
    data: list[ClipFeatures],
    report: dict,
    *,
    variants: tuple[str, ...],
    out_dir: Path,
    data_name: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    feature_config: FeatureConfig,
    audio_config: AudioConfig,
    seed: int = 0,
    progress: bool = True,
) -> list[Path]:
    """Fit each variant on all clips and write ``<variant>.safetensors`` + ``<variant>.json``.

    The temperature and the figures come from the cross-validation ``report``
    made with the same configuration; the ensemble gets a card only.
    """
    labels = np.array([item.clip.label for item in data])
    genders = [item.clip.gender for item in data]
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    written = []
    for name in variants:
        variant = get_variant(name)
        common = {
            "variant": name,
            "description": variant.description,
            "created": created,
            "deceptio_version": __version__,
            "inconclusive_band": INCONCLUSIVE_BAND,
            "training_data": _training_data(data, data_name, report),
            **card_figures(report, name),
        }
        if variant.is_ensemble:
            written.append(save_card({**common, "members": list(variant.members), "combine": "mean of calibrated probabilities"}, out_dir))
            continue
        model = fit(
            variant_images(data, variant, sample_rate=feature_config.sample_rate), labels, genders,
            model_config=model_config, train_config=train_config, seed=seed, progress=progress, description=f"fit {name}",
        )
        card = {
            **common,
            "images": [{"name": image, "rows": IMAGE_ROWS[image]} for image in variant.images],
            "input_rows": variant.n_rows,
            "feature_config": feature_config.to_dict(),
            "audio_config": asdict(audio_config),
            "train_config": train_config.to_dict(),
            "normalisation": "per recording: each map z-scored per row over the speaker's speech frames; "
            "F0 and centroid drawn relative to the recording's median; no corpus statistics are needed",
            "temperature": report["methods"][name]["temperature"],
        }
        written.append(save_variant(model, card, out_dir))
    return written


def refresh_cards(report: dict, weights_dir: Path, *, variants: tuple[str, ...]) -> list[Path]:
    """Rewrite the figures (``cv``, ``baselines``, ``protocol``) of existing cards from a new report; weights untouched.

    For a report made with exactly the configuration the weights were
    trained with (new baseline rows, more repeats of a slow recipe): the
    card's other fields, its weights and their sha256 stay as they are. A
    card whose model or training configuration differs from the report's is
    refused, as its figures would describe another recipe.
    """
    protocol = report["protocol"]
    cards = {name: load_card(weights_dir, name) for name in variants}
    for name, card in cards.items():  # all checked before any is written
        if not card.get("members"):
            same_model = ModelConfig.from_dict(card["model_config"]) == ModelConfig.from_dict(protocol["model_config"])
            same_train = TrainConfig.from_dict(card["train_config"]) == TrainConfig.from_dict(protocol["train_config"])
            if not (same_model and same_train):
                raise WeightsError(f"{name}: the card's model or training configuration is not the report's; "
                                   "retrain (deceptio train) instead of refreshing its figures")
    return [save_card({**card, **card_figures(report, name)}, weights_dir) for name, card in cards.items()]
