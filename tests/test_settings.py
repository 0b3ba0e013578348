"""One validator for every config class: types, ranges, dict round trips and the CLI's --set."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from deceptio.audio import AudioConfig, VADConfig
from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig
from deceptio.modeling.card import Calibration
from deceptio.modeling.images import ImageConfig, WindowConfig
from deceptio.modeling.models import ModelConfig
from deceptio.training.train import TrainConfig

REPO = Path(__file__).resolve().parent.parent
CLASSES = [AudioConfig, VADConfig, FeatureConfig, ImageConfig, WindowConfig, ModelConfig, TrainConfig, Calibration]


def _fields_of_type(cls: type, kind: type) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [field.name for field in dataclasses.fields(cls) if hints[field.name] is kind]


def _refuses(cls: type, field: str, value: object) -> str:
    with pytest.raises(ParameterError, match=rf"^{cls.__name__}\.{field}=") as error:
        cls(**{field: value})
    return str(error.value)


@pytest.mark.parametrize(
    "cls, field, wrong_type, out_of_range",
    [
        (AudioConfig, "max_bytes", "200MB", 0),
        (VADConfig, "threshold_ratio", "0.3", 1.5),
        (ImageConfig, "f0_bins", 48.0, 1),
        (WindowConfig, "window_frames", "4s", 0),
        (Calibration, "inconclusive_band", "wide", 0.5),
        (FeatureConfig, "n_mels", "64", -1),
        (FeatureConfig, "pre_emphasis", None, 1.0),
        (ModelConfig, "width", "abc", 2),
        (ModelConfig, "layers", 2, (1, 0, 1, 1)),
        (ModelConfig, "dropout", True, 1.0),
        (TrainConfig, "balance", 3, "gender"),
        (TrainConfig, "learning_rate", "fast", 0.0),
        (TrainConfig, "label_smoothing", [0.1], 0.5),
    ],
)
def test_wrong_type_and_out_of_range_name_class_field_and_value(cls, field, wrong_type, out_of_range):
    assert f"={wrong_type!r} must be " in _refuses(cls, field, wrong_type)
    assert f"={out_of_range!r} must be " in _refuses(cls, field, out_of_range)


def test_the_message_says_what_is_accepted():
    assert _refuses(TrainConfig, "epochs", 8.5) == "TrainConfig.epochs=8.5 must be an integer >= 1"
    assert _refuses(ModelConfig, "layers", (1, 1, 1)) == "ModelConfig.layers=(1, 1, 1) must be four integers >= 1"
    assert _refuses(TrainConfig, "balance", "x") == "TrainConfig.balance='x' must be one of ('none', 'label', 'gender_label')"
    assert _refuses(ModelConfig, "dropout", -0.1) == "ModelConfig.dropout=-0.1 must be a number in [0, 1)"


@pytest.mark.parametrize("cls", [cls for cls in CLASSES if cls is not Calibration])
def test_int_fields_refuse_fractions_bools_and_strings(cls):
    names = _fields_of_type(cls, int)
    assert names
    for name in names:
        for value in (8.5, True, float(getattr(cls(), name)), "8"):
            _refuses(cls, name, value)


@pytest.mark.parametrize("cls", [cls for cls in CLASSES if cls is not WindowConfig])
def test_float_fields_refuse_non_finite_bools_and_strings(cls):
    names = _fields_of_type(cls, float)
    assert names
    for name in names:
        for value in (float("nan"), float("inf"), 10**400, False, "0.5", None):
            _refuses(cls, name, value)


@pytest.mark.parametrize(
    "cls, field",
    [
        (AudioConfig, "min_speech_s"),
        (FeatureConfig, "fmin"),
        (TrainConfig, "learning_rate"),
        (TrainConfig, "mixup"),
    ],
)
def test_float_fields_accept_ints_and_store_floats(cls, field):
    config = cls(**{field: 1})
    assert type(getattr(config, field)) is float and getattr(config, field) == 1.0
    assert json.dumps(config.to_dict()[field]) == "1.0"
    assert type(ModelConfig(dropout=0).dropout) is float


def test_numpy_numbers_are_stored_as_plain_python_numbers():
    config = FeatureConfig(n_mels=np.int64(40), fmin=np.float32(25.0))
    assert type(config.n_mels) is int and type(config.fmin) is float
    json.dumps(config.to_dict())


def test_tuples_accept_lists_and_store_tuples():
    config = ModelConfig(layers=[2, 1, 1, 2])
    assert config.layers == (2, 1, 1, 2) and config.to_dict()["layers"] == (2, 1, 1, 2)
    for bad in ((1, 1, 1, 1.5), (1, 1, True, 1), "1111", (1, 1, 1, 1, 1)):
        _refuses(ModelConfig, "layers", bad)


def test_cross_field_rules_name_class_and_field():
    with pytest.raises(ParameterError, match=r"^ImageConfig\.lsf_fmax=50\.0 must be above lsf_fmin=60\.0"):
        ImageConfig(lsf_fmax=50.0)
    with pytest.raises(ParameterError, match=r"^VADConfig\.loud_percentile=5\.0 must be above noise_percentile=10\.0"):
        VADConfig(loud_percentile=5.0)
    with pytest.raises(ParameterError, match=r"^FeatureConfig\.fmin=9000\.0 must be < fmax=8000\.0"):
        FeatureConfig(fmin=9000.0)
    with pytest.raises(ParameterError, match=r"^FeatureConfig\.n_mels=256 "):
        FeatureConfig(n_mels=256)
    with pytest.raises(ParameterError, match=r"^AudioConfig\.min_speech_s=5\.0 must be <= max_duration_s=4\.0"):
        AudioConfig(max_duration_s=4.0, min_speech_s=5.0)


def test_defaults_and_cache_keys_are_unchanged():
    """Cache keys and cards are built from to_dict(): its values, order and types must not move."""
    assert json.dumps(TrainConfig().to_dict()) == (
        '{"epochs": 12, "batch_size": 32, "learning_rate": 0.003, "weight_decay": 0.05, '
        '"balance": "gender_label", "freq_mask": 8, "time_mask": 40, "label_smoothing": 0.05, '
        '"mixup": 0.0, "time_stretch": 0.0, "noise": 0.0, "adversary": 0.0, "pretrain_epochs": 0}'
    )
    assert WindowConfig().to_dict() == {"window_frames": 400, "hop_frames": 200}
    assert list(TrainConfig().key_dict())[-1] == "label_smoothing"
    assert ModelConfig().to_dict() == {"in_channels": 1, "width": 16, "layers": (1, 1, 1, 1), "dropout": 0.3, "time_pool": 2}
    features = FeatureConfig().to_dict()
    assert (features["n_mels"], features["fmin"], features["lpc_order"], features["contrast_fmin"]) == (64, 50.0, 16, 200.0)
    assert repr(AudioConfig()) == ("AudioConfig(max_duration_s=900.0, min_speech_s=2.0, min_input_rate=8000, "
                                   "max_input_rate=192000, max_bytes=200000000)")


@pytest.mark.parametrize(
    "config",
    [
        AudioConfig(max_duration_s=60, min_speech_s=1),
        VADConfig(min_gap_s=0.2),
        ImageConfig(f0_bins=40, lsf_fmin=80),
        WindowConfig(window_frames=800, hop_frames=400),
        FeatureConfig(n_mels=40, pre_emphasis=0.0),
        ModelConfig(width=8, layers=(2, 1, 1, 2), dropout=0.1),
        TrainConfig(epochs=3, balance="label", mixup=0.4),
    ],
)
def test_round_trip_through_json(config):
    cls = type(config)
    assert cls.from_dict(config.to_dict()) == config
    assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert cls.from_dict({}) == cls()


@pytest.mark.parametrize("cls", CLASSES)
def test_from_dict_refuses_unknown_keys_and_non_mappings(cls):
    first = dataclasses.fields(cls)[0].name
    with pytest.raises(ParameterError, match=rf"unknown {cls.__name__} keys \['colour'\]; known keys are \[.*'{first}'"):
        cls.from_dict({"colour": 1})
    with pytest.raises(ParameterError, match=f"{cls.__name__} settings must be a mapping"):
        cls.from_dict([first])


def test_speech_mask_takes_a_checked_vad_config():
    from deceptio.audio import speech_mask

    y = np.zeros(1600, dtype=np.float32)
    with pytest.raises(ParameterError, match=r"^config must be a VADConfig, not dict$"):
        speech_mask(y, {"frame_length": 320})
    with pytest.raises(ParameterError, match=r"^hop_length=0 must be an integer > 0$"):
        speech_mask(y, hop_length=0)


def test_set_applies_a_section_at_once():
    from deceptio.cli import _configs

    model, train, inputs = _configs(["window.window_frames=20", "train.time_mask=10", "features.n_mels=40", "vad.min_gap_s=0.2"])
    assert (inputs.window.window_frames, train.time_mask, inputs.features.n_mels, model) == (20, 10, 40, ModelConfig())
    assert inputs.vad.min_gap_s == 0.2
    with pytest.raises(ParameterError, match=r"^--set train\.epochs=8\.5: TrainConfig\.epochs=8\.5 must be"):
        _configs(["train.epochs=8.5"])
    with pytest.raises(ParameterError, match=r"train\.time_mask=40 must be <= window\.window_frames=20"):
        _configs(["window.window_frames=20"])


def _evaluate(tmp_path: Path, *settings: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "deceptio.cli", "evaluate", "--data", str(tmp_path / "missing.csv"),
               "--report-dir", str(tmp_path / "reports"), "--no-cache", "--set", *settings]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("model.width=abc", "ModelConfig.width='abc' must be an integer >= 4"),
        ("train.epochs=8.5", "TrainConfig.epochs=8.5 must be an integer >= 1"),
        ("model.layers=2", "ModelConfig.layers=2 must be four integers >= 1"),
        ("train.balance=3", "TrainConfig.balance=3 must be one of"),
        ("features.n_mels=-1", "FeatureConfig.n_mels=-1 must be"),
        ("train.learning_rate=nan", "TrainConfig.learning_rate='nan' must be a number > 0"),
        ("model.dropout=True", "ModelConfig.dropout=True must be a number in [0, 1)"),
        ("train.epochs=1e9", "TrainConfig.epochs=1000000000.0 must be an integer >= 1"),
        ("train.time_mask={[]: 1}", "TrainConfig.time_mask='{[]: 1}' must be an integer >= 0"),
        ("window.hop_frames=0", "WindowConfig.hop_frames=0 must be an integer >= 1"),
        ("images.f0_bins=big", "ImageConfig.f0_bins='big' must be an integer >= 2"),
        ("vad.floor_db=3", "VADConfig.floor_db=3 must be a number <= 0"),
    ],
)
def test_bad_set_values_exit_2_with_one_line_before_any_data_loads(tmp_path, setting, expected):
    result = _evaluate(tmp_path, setting)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"deceptio: error: --set {setting}: "), result.stderr
    assert expected in lines[0]
    assert result.stdout == "" and not (tmp_path / "reports").exists()


def test_good_set_values_get_as_far_as_the_data(tmp_path):
    result = _evaluate(tmp_path, "window.window_frames=20", "train.time_mask=10", "model.layers=[1, 2, 1, 1]")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"deceptio: error: no data at {tmp_path / 'missing.csv'}: "
                                                  "pass --data MANIFEST.csv or a folder of labelled recordings"]
