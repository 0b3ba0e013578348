"""Trains the shipped variants on a whole corpus and writes their weights and cards."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from deceptio import __version__
from deceptio.errors import WeightsError
from deceptio.features import FeatureConfig
from deceptio.features.profile import profile_ranges, voice_profile
from deceptio.modeling.card import (
    INCONCLUSIVE_BAND,
    Calibration,
    ModelInput,
    load_card,
    save_card,
)
from deceptio.modeling.models import ModelConfig
from deceptio.modeling.variants import get_variant
from deceptio.modeling.weights import save_variant
from deceptio.training.baselines import BASELINES
from deceptio.training.cv import initial_state, variant_images
from deceptio.training.data import ClipFeatures
from deceptio.training.train import TrainConfig, fit

__all__ = ["card_figures", "refresh_cards", "release", "training_data"]


def training_data(data: list[ClipFeatures], name: str, report: dict, *, feature_config: FeatureConfig,
                  about: dict | None = None) -> dict:
    """A card's ``training_data`` block: what the clips are, the report's counts, and how they sound.

    ``about`` adds plain facts a person reads on the page (``material``,
    ``language``); ``profile`` holds the central 95 % range of each clip's
    :class:`~deceptio.features.profile.VoiceProfile` over the subject's speech,
    so the page can say when a recording is unlike the training clips.
    """
    profiles = [voice_profile(item.features, item.subject_frames, config=feature_config) for item in data]
    return {
        "name": name,
        **(about or {}),
        **report["data"],
        "speech": "subject turns only (other speakers' turns excluded), VAD speech frames",
        "profile": profile_ranges(profiles),
    }


def release(
    data: list[ClipFeatures],
    report: dict,
    *,
    variants: tuple[str, ...],
    out_dir: Path,
    data_name: str,
    data_about: dict | None = None,
    model_config: ModelConfig,
    train_config: TrainConfig,
    inputs: ModelInput = ModelInput(),
    configurations: dict[str, tuple[ModelConfig, TrainConfig, ModelInput]] | None = None,
    seed: int = 0,
    progress: bool = True,
    cache_dir: Path | None = None,
) -> list[Path]:
    """Fit each variant on all clips and write ``<variant>.safetensors``, ``<variant>.onnx`` + ``<variant>.json``.

    The temperature and the figures come from the cross-validation ``report``
    made with the same configuration; the ensemble gets a card only.
    ``configurations`` gives a variant its own model, training and input
    settings (what a nested report's selection on all clips picked,
    :func:`~deceptio.training.nested.shipped_configurations`); the others
    take ``model_config``, ``train_config`` and ``inputs``. ``cache_dir``
    holds (or receives) the pretrained networks of a configuration that
    pretrains on the related task.
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
            "training_data": training_data(data, data_name, report, feature_config=inputs.features, about=data_about),
            **card_figures(report, name),
        }
        if variant.is_ensemble:
            band = Calibration(inconclusive_band=INCONCLUSIVE_BAND).to_dict()
            del band["temperature"]  # an ensemble averages calibrated probabilities
            written.append(save_card({**common, "members": list(variant.members), "combine": "mean of calibrated probabilities",
                                      "calibration": band}, out_dir))
            continue
        model_c, train_c, inputs_c = (configurations or {}).get(name, (model_config, train_config, inputs))
        model = fit(
            variant_images(data, variant, inputs_c), labels, genders, speakers=[item.clip.speaker for item in data],
            initial_state=initial_state(variant, model_config=model_c, train_config=train_c, inputs=inputs_c,
                                        cache_dir=cache_dir),
            model_config=model_c, train_config=train_c,
            window=inputs_c.window, seed=seed, progress=progress, description=f"fit {name}",
        )
        card = {
            **common,
            "input": inputs_c.for_layout(variant.images).to_dict(),
            "calibration": Calibration(temperature=report["methods"][name]["temperature"],
                                       inconclusive_band=INCONCLUSIVE_BAND).to_dict(),
            "train_config": train_c.to_dict(),
            "normalisation": "per recording: each map z-scored per row over the speaker's speech frames; "
            "F0 and centroid drawn relative to the recording's median; no corpus statistics are needed",
        }
        written.append(save_variant(model, card, out_dir))
    return written


def refresh_cards(report: dict, weights_dir: Path, *, variants: tuple[str, ...],
                  data_block: dict | None = None) -> list[Path]:
    """Rewrite the figures (``cv``, ``baselines``, ``protocol``) of existing cards from a new report; weights untouched.

    ``data_block`` (from :func:`training_data` on the same clips) replaces the
    cards' ``training_data`` too.

    For a report made with exactly the configuration the weights were
    trained with (new baseline rows, more repeats of a slow recipe): the
    card's other fields, its weights and their sha256 stay as they are. A
    card whose model or training configuration differs from the report's is
    refused, as its figures would describe another recipe.
    """
    protocol = report["protocol"]
    recipe = (ModelConfig.from_dict(protocol["model_config"]), TrainConfig.from_dict(protocol["train_config"]),
              ModelInput.from_settings(protocol.get("input_config", {}), where="report"))
    recipes = {}
    if "shipped" in protocol:  # a nested report: each variant's recipe is what its selection on all clips picked
        from deceptio.training.nested import shipped_configurations

        recipes = {name: settings for name, (_, settings) in shipped_configurations(report, *recipe).items()}
    cards = {name: load_card(weights_dir, name) for name in variants}
    for name, card in cards.items():  # all checked before any is written
        if not card.get("members"):
            model_c, train_c, inputs_c = recipes.get(name, recipe)
            same_model = ModelConfig.from_dict(card["model_config"]) == model_c
            same_train = TrainConfig.from_dict(card["train_config"]) == train_c
            trained = ModelInput.from_card(card)
            same_input = trained.to_dict() == inputs_c.for_layout(trained.layout).to_dict()
            if not (same_model and same_train and same_input):
                raise WeightsError(f"{name}: the card's model or training configuration is not the report's; "
                                   "retrain (deceptio train) instead of refreshing its figures")
    extra = {"training_data": data_block} if data_block is not None else {}
    return [save_card({**card, **card_figures(report, name), **extra}, weights_dir) for name, card in cards.items()]


def card_figures(report: dict, method: str) -> dict:
    """The ``cv`` and ``baselines`` blocks of a model card, from the report."""
    m = report["methods"][method]["metrics"]
    pick = lambda metric: {"mean": metric["mean"], "std": metric["std"], "ci95": metric.get("ci95")}
    cv = {
        name: pick(m[name])
        for name in ("auc", "auc_female", "accuracy", "balanced_accuracy", "auc_female_without_dominant",
                     "auc_within_speaker", "gender_balanced_auc", "auc_channel_subset")
    }
    cv["auc_within_speaker"]["n_pairs"] = m["auc_within_speaker"].get("n_pairs")
    cv["auc_within_speaker"]["n_speakers"] = m["auc_within_speaker"].get("n_speakers")  # how few it rests on
    cv["ece"] = m["ece"]["mean"]
    cv["auc_score_gender"] = m["auc_score_gender"]["mean"]
    cv["auc_label_gender"] = report["data"]["auc_label_gender"]
    # The built-in baselines, then rows made elsewhere in the same folds (the original notebook's recipe).
    names = [name for name in BASELINES if name in report["methods"]]
    names += [name for name, row in report["methods"].items() if row.get("kind") == "baseline" and name not in names]
    baselines = {}
    for name in names:
        row = report["methods"][name]
        baselines[name] = {"auc": pick(row["metrics"]["auc"]), "accuracy": pick(row["metrics"]["accuracy"]),
                           "auc_female": pick(row["metrics"]["auc_female"]), "ece": row["metrics"]["ece"]["mean"],
                           "auc_score_gender": row["metrics"]["auc_score_gender"]["mean"]}
        if "repeats" in row:  # a row made over fewer repeats than the report
            baselines[name]["repeats"] = row["repeats"]
    protocol = {k: report["protocol"][k] for k in ("folds", "repeats", "grouped_by")}
    protocol["dominant_speaker"] = report["data"]["dominant_speaker"]
    protocol["configurations_tried"] = report["protocol"].get("configurations_tried", 1)
    protocol["selection"] = report["protocol"].get("selection", "fixed in advance")
    shipped = report["protocol"].get("shipped", {}).get(method, {})
    if "configuration" in shipped:  # a nested report: what the inner CV on all clips picked for this variant
        grid = report["protocol"]["grid"]
        protocol["configuration"] = {"name": shipped["configuration"],
                                     "description": grid[shipped["configuration"]]["description"],
                                     "inner_gender_balanced_auc": shipped["inner_gender_balanced_auc"],
                                     "picked_per_outer_fold": report["methods"][method].get("picked", {})}
    return {"cv": cv, "baselines": baselines, "protocol": protocol}


