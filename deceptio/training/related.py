"""A related task to learn from: high against low arousal in EmoDB's acted German speech.

Nobody in EmoDB is lying; its arousal labels (anger, fear and happiness high;
boredom, sadness and neutral low; disgust, "mid", left out) are balanced
within every one of its 10 speakers. A variant's network can be pretrained on
them before it learns deception (``TrainConfig.pretrain_epochs``): the
pretrained network depends on EmoDB and the settings only, never on the
deception folds, so one is trained per variant and configuration (seed
fixed) and every fold's fit starts from it. :func:`arousal_auc` measures what
the network learns of arousal on speakers it never heard (speaker-grouped CV
on EmoDB). Whether pretraining helps deception is for the nested selection
to decide (:data:`deceptio.training.nested.GRID`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from deceptio.errors import DataError
from deceptio.modeling.card import ModelInput
from deceptio.modeling.models import ModelConfig
from deceptio.modeling.variants import Variant
from deceptio.paths import REPO
from deceptio.training.data import Clip, ClipFeatures, extract_dataset, parse_gender

__all__ = ["default_emodb", "emodb_clips", "arousal_data", "pretrained_state", "arousal_auc"]

_PRETRAIN_SEED = 4242  # one pretrained network per variant and configuration, whatever the fold


def default_emodb() -> Path:
    """``$DECEPTIO_EMODB``, else ``../shared/data/emodb`` beside the checkout."""
    return Path(os.environ.get("DECEPTIO_EMODB", REPO.parent / "shared" / "data" / "emodb"))


def emodb_clips(root: Path | None = None) -> list[Clip]:
    """EmoDB's high- (label 1) and low-arousal (label 0) clips from its ``manifest.csv``; "mid" is left out.

    Raises
    ------
    DataError
        If the manifest is missing or lacks its columns.
    """
    root = Path(root or default_emodb())
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise DataError(f"EmoDB is not at {root} (no manifest.csv): set $DECEPTIO_EMODB or leave pretrain_epochs at 0")
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "speaker", "gender", "arousal"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{manifest} lacks the column(s) {sorted(missing)}")
        return [Clip(id=f"emodb-{Path(row['path']).stem}", path=root / row["path"], label=int(row["arousal"] == "high"),
                     speaker=f"emodb-{row['speaker']}", gender=parse_gender(row["gender"]))
                for row in reader if row["arousal"] in ("high", "low")]


def arousal_data(inputs: ModelInput, cache_dir: Path | None, root: Path | None = None) -> list[ClipFeatures]:
    """EmoDB's arousal clips with their features under ``inputs``' settings (cached beside the corpus's)."""
    return extract_dataset(emodb_clips(root), feature_config=inputs.features, vad_config=inputs.vad,
                           cache_dir=cache_dir, progress=False)


def _key(variant: Variant, model_config: ModelConfig, train_config, inputs: ModelInput, root: Path) -> str:
    from deceptio.training.cv import _fit_key_parts, _fold_key

    manifest = hashlib.sha256((root / "manifest.csv").read_bytes()).hexdigest()[:16]  # which clips, not where they lie
    return _fold_key(_fit_key_parts(variant, model_config, train_config, inputs) + ["emodb-arousal", manifest, _PRETRAIN_SEED])


def pretrained_state(variant: Variant, *, model_config: ModelConfig, train_config, inputs: ModelInput,
                     cache_dir: Path | None, root: Path | None = None) -> dict:
    """The network of ``variant`` trained on EmoDB arousal for ``train_config.pretrain_epochs`` epochs, as a state dict.

    Cached under ``cache_dir/pretrain`` (safetensors) and in this process.
    """
    return dict(_pretrained(variant, model_config, train_config, inputs, cache_dir, Path(root or default_emodb())))


@lru_cache(maxsize=8)
def _pretrained(variant, model_config, train_config, inputs, cache_dir, root) -> tuple:
    from safetensors.torch import load_file, save_file

    from deceptio.training.cv import variant_images
    from deceptio.training.train import fit

    emodb_clips(root)  # a clear error where EmoDB is missing
    key = _key(variant, model_config, train_config, inputs, root)
    cached = Path(cache_dir) / "pretrain" / f"{variant.name}-{key}.safetensors" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return tuple(load_file(str(cached)).items())
    data = arousal_data(inputs, cache_dir, root)
    images = variant_images(data, variant, inputs)
    model = fit(images, np.array([item.clip.label for item in data]), [item.clip.gender for item in data],
                speakers=[item.clip.speaker for item in data], model_config=model_config,
                train_config=_as_pretraining(train_config), window=inputs.window, seed=_PRETRAIN_SEED)
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}
    if cached is not None:  # whole or not at all
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        save_file(state, str(partial))
        partial.replace(cached)
    return tuple(state.items())


def _as_pretraining(train_config):
    """The settings of the pretraining run: the same, for ``pretrain_epochs`` epochs, with no pretraining of its own."""
    from dataclasses import replace

    return replace(train_config, epochs=train_config.pretrain_epochs, pretrain_epochs=0)


def arousal_auc(variant: Variant, *, model_config: ModelConfig, train_config, inputs: ModelInput,
                cache_dir: Path | None, folds: int = 5, root: Path | None = None) -> float:
    """ROC AUC of high against low arousal on EmoDB speakers held out (speaker-grouped ``folds``-fold CV, at most
    one fold per speaker), by networks trained as the pretraining is."""
    from deceptio.modeling.models import as_network
    from deceptio.modeling.scoring import recording_logit
    from deceptio.training.cv import CVConfig, make_folds, variant_images
    from deceptio.training.metrics import roc_auc
    from deceptio.training.train import fit

    root = Path(root or default_emodb())
    emodb_clips(root)
    key = _key(variant, model_config, train_config, inputs, root)
    cached = Path(cache_dir) / "pretrain" / f"{variant.name}-{key}-auc{folds}.json" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        return float(json.loads(cached.read_text())["arousal_auc"])
    data = arousal_data(inputs, cache_dir, root)
    images = variant_images(data, variant, inputs)
    labels = np.array([item.clip.label for item in data])
    speakers = np.array([item.clip.speaker for item in data])
    genders = [item.clip.gender for item in data]
    folds = min(folds, len(set(speakers)))  # a small corpus: one speaker per fold
    [fold_of] = make_folds(labels, speakers, CVConfig(folds=folds, repeats=1, first_seed=_PRETRAIN_SEED))
    logits = np.empty(len(data))
    for k in np.unique(fold_of):
        train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        model = fit([images[i] for i in train], labels[train], [genders[i] for i in train],
                    speakers=list(speakers[train]), model_config=model_config, train_config=_as_pretraining(train_config),
                    window=inputs.window, seed=_PRETRAIN_SEED + int(k))
        network = as_network(model)
        logits[test] = [recording_logit(network, images[i], inputs.window) for i in test]
    auc = float(roc_auc(labels, logits))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"arousal_auc": auc, "clips": len(data), "speakers": len(set(speakers))}))
    return auc
